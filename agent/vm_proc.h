/* vm_proc.h: one VM's QEMU process and the files of its run directory.
 *
 * DATA/vms/<id>/ holds spec.json (the accepted order), state.json (pid,
 * process start time, SSH port, uid, applied generation: written atomically),
 * disk.qcow2, seed.iso, efivars.fd, qmp.sock, vnc.sock, serial.sock, serial.log,
 * guest.log and qemu.pid.  QEMU is started with -daemonize: it detaches itself, so it
 * outlives the agent, and its startup errors come back on stderr.  A
 * process is ours only if its pid is alive AND its start time matches what
 * we recorded (pids are reused); if unsure, we stop it rather than risk a
 * VM running twice (libvirt's qemuProcessReconnect). */
#ifndef CUMULUS_AGENT_VM_PROC_H
#define CUMULUS_AGENT_VM_PROC_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "agent.h"
#include "vm_spec.h"

typedef struct vm_runtime {
    pid_t pid;                     /* 0 when not running */
    unsigned long long start_time; /* /proc/<pid>/stat field 22; 0 where unknown */
    int ssh_port;                  /* 0 until allocated; kept for the VM's life */
    unsigned uid;                  /* QEMU's uid and gid (agent.h vm_uid_min); 0: the agent's */
    long long applied_generation;
    char reboot_done[64];   /* the last reboot_request carried out */
    char restore_done[64];  /* the last restore request carried out (vm_snapshots.h) */
    bool ever_started;      /* a disk that has booted is never removed by a failure */
    long long boot_started; /* wall clock (s) of the last start */
    char last_state[16];    /* "running" | "stopped" | "": saved on every change */
} vm_runtime;

/* DATA/vms/<id>/<file> into buf. */
void vm_path(const agent *a, const char *id, const char *file, char *buf, size_t len);

int vm_runtime_load(const agent *a, const char *id, vm_runtime *rt, cu_error **err);
int vm_runtime_save(const agent *a, const char *id, const vm_runtime *rt, cu_error **err);

/* Is the recorded process alive and still QEMU we started? */
bool vm_proc_alive(const vm_runtime *rt);
/* The pid of VM `id`'s QEMU as state.json records it, when that process
 * is alive and still ours (vm_proc_alive); 0 otherwise.  Reads the file,
 * not the VM's record, so it needs no lock (for /metrics and stats). */
pid_t vm_proc_pid(const agent *a, const char *id);
/* A QEMU of this VM that state.json does not name (the agent died between
 * starting it and saving its pid): found through QEMU's own pidfile and
 * checked against its command line.  Fills pid, start time and port. */
bool vm_proc_recover(const agent *a, const char *id, vm_runtime *rt);
/* Start time of a pid (0 if unknown or gone). */
unsigned long long vm_proc_start_time(pid_t pid);

/* Starts QEMU for the spec with the prepared disk/seed; fills rt->pid. */
int vm_proc_start(agent *a, const vm_spec *s, vm_runtime *rt, cu_error **err);
/* Graceful: ACPI power button through QMP, then quit after timeout_s;
 * hard: quit at once (SIGKILL if QMP does not answer).  rt->pid = 0. */
int vm_proc_stop(agent *a, const char *id, vm_runtime *rt, bool graceful, unsigned timeout_s,
                 cu_error **err);
/* A QMP connection to the running VM's QEMU (retried while another
 * client holds the monitor). */
struct qmp;
struct qmp *vm_proc_qmp(const agent *a, const char *id, cu_error **err);
/* QMP query-status of the running VM into buf ("running", ...). */
int vm_proc_query(agent *a, const char *id, char *buf, size_t len, cu_error **err);

#endif
