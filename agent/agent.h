/* agent.h: the agent's shared context, handed to the API handlers, the VM
 * manager and the reporter. */
#ifndef CUMULUS_AGENT_AGENT_H
#define CUMULUS_AGENT_AGENT_H

#include <pthread.h>

#include "host_facts.h"
#include "loop.h"

struct image_cache;
struct vm_table;

typedef struct agent {
    char *data_dir;         /* DIR: vms/<id>/, images/, credentials.json */
    char *cp_url;           /* the control plane, e.g. http://127.0.0.1:8080 */
    char *join_token;       /* read from --join-token-file */
    char *name;             /* this host's name at the control plane */
    char *address;          /* where users reach forwarded ports (ssh -p PORT user@ADDRESS) */
    char *api_url;          /* where the control plane reaches this agent */
    char *console_url;      /* where viewers reach the console websockets (console_proxy.h) */
    char *ssh_bind;         /* host address QEMU binds forwarded ports on */
    int port_min, port_max; /* range of host ports for forwarded SSH */
    /* Each VM's QEMU runs as a uid (and gid) of its own from this range
     * (vm_uid_allocate); 0, 0: as the agent (not root, or vm-uid-range off). */
    unsigned vm_uid_min, vm_uid_max;
    unsigned heartbeat_s;
    unsigned stop_timeout_s; /* graceful stop: wait this long before pulling the plug */
    unsigned boot_timeout_s; /* a guest silent this long after boot is reported timed out */

    host_facts facts;
    struct image_cache *images;
    struct vm_table *vms;

    /* Credentials (credentials.json): ours at the control plane, and the
     * token the control plane must show to give us orders. */
    pthread_mutex_t cred_lock;
    char host_id[64];
    char agent_token[128];
    char order_token[128];

    cu_loop reporter; /* reporter.c: heartbeats */
    cu_loop watcher;  /* vm_manager.c: notices guests ready and QEMUs gone, every second */
    int report_failing;           /* heartbeats failed in a row */
    double report_failing_since;  /* monotonic seconds of the first */
} agent;

/* Wakes the reporter to send a heartbeat now (a VM changed state). */
void agent_report_soon(agent *a);

#endif
