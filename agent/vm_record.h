/* vm_record.h: what the agent knows of one VM in memory: the accepted
 * order, the runtime (pid, port, applied generation), and the state it
 * reports (state, progress, message, error). */
#ifndef CUMULUS_AGENT_VM_RECORD_H
#define CUMULUS_AGENT_VM_RECORD_H

#include <jansson.h>
#include <pthread.h>

#include "agent.h"
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
    int dirty, worker, destroyed;
} vm_record;

vm_record *vm_record_new(const char *id);
void vm_record_free(vm_record *r);
/* {"id","state","accepted_generation","applied_generation","ssh_port","progress","message","error"} */
json_t *vm_record_status(vm_record *r);

/* Setters that take the lock. */
void vm_record_set(vm_record *r, const char *state, int progress, const char *message);
void vm_record_fail(vm_record *r, long long generation, const char *code, const char *message);

#endif
