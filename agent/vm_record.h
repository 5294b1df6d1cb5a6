/* vm_record.h: what the agent knows of one VM in memory: the accepted
 * order, the runtime (pid, port, applied generation), and the state it
 * reports (state, progress, message, error). */
#ifndef CUMULUS_AGENT_VM_RECORD_H
#define CUMULUS_AGENT_VM_RECORD_H

#include <jansson.h>
#include <pthread.h>

#include "agent.h"
#include "guest_channel.h"
#include "vm_proc.h"
#include "vm_spec.h"

typedef struct vm_record {
    char id[64];
    agent *agent;
    pthread_mutex_t lock; /* guards everything below */
    vm_spec spec;
    vm_runtime rt;
    char state[16]; /* provisioning|starting|running|stopping|stopped|error|destroying */
    int progress;
    char message[256];
    char error_code[48];
    char error_message[1024];
    long long error_generation;
    /* What the guest said on this boot (guest_channel.h), while running. */
    guest_status guest;
    char guest_message[768];
    /* A bake's last word (guest_channel.h): kept and reported after the
     * guest has powered off, until the next boot. */
    int guest_bake;
    char guest_detail[GUEST_DETAIL_MAX];
    long long boot_seconds; /* QEMU start or reset -> cloud-init finished; -1 until then */
    int boot_timed_out;     /* still booting after the agent's boot-timeout */
    int dirty, worker, destroyed;
    int held; /* left stopped after a host restart (autostart); a newer order releases it */
    json_t *snapshots; /* what the disk holds (vm_snapshots.h); NULL until read */
    json_t *export;    /* the image file made for the order's export (vm_export.h) or NULL */
} vm_record;

vm_record *vm_record_new(const char *id);
void vm_record_free(vm_record *r);
/* {"id","state","accepted_generation","applied_generation","ssh_port","progress","message",
 *  "error", "snapshots": [{"id","vm_state_bytes","taken_at"}] (absent until read),
 *  "export": {"image_id","checksum","size_bytes"} (absent unless one is ready),
 *  "guest": null | {"state": "booting"|"ready"|"failed", "message",
 *  "boot_seconds": N|null, "timed_out": bool}} ("guest" is null unless running),
 *  and once a bake's guest has said its last word, running or not:
 *  "bake": {"state": "ready"|"failed", "message", "detail"} */
json_t *vm_record_status(vm_record *r);

/* Setters that take the lock. */
void vm_record_set(vm_record *r, const char *state, int progress, const char *message);
/* A new boot began (QEMU started or reset): the guest is booting again. */
void vm_record_boot_began(vm_record *r);
void vm_record_fail(vm_record *r, long long generation, const char *code, const char *message);
/* The order of `generation` failed in part (a snapshot), the VM itself is
 * as it was: the error is reported, the state stays. */
void vm_record_error(vm_record *r, long long generation, const char *code, const char *message);

#endif
