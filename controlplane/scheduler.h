/* scheduler.h: where a new VM goes.  A host qualifies when it is `up`, not
 * drained, runs the image's architecture (natively, or under emulation if
 * it says it can), and has room for the size after what is already placed
 * on it (capacity times the allocation ratio).  Hosts of the image's own
 * architecture come first; among them the policy decides: spread (the most
 * memory left) or pack (the least that still fits).  A VM may pin a host.
 * Called inside the create's store transaction, so concurrent creates are
 * placed one at a time and never overbook a host. */
#ifndef CUMULUS_CP_SCHEDULER_H
#define CUMULUS_CP_SCHEDULER_H

#include "app.h"

typedef struct sched_request {
    long long vcpus, memory_mib, disk_gib;
    const char *architecture;
    const char *size_name; /* for messages */
    const char *pin;       /* a host id or name the VM must go to, or NULL */
} sched_request;

/* Call inside a store transaction.  Returns 0 with *host_id (malloc'd), or
 * -1 with 409 no_capacity naming what was short on each host (no host up,
 * drained, architecture, vCPUs, memory, disk); 400 invalid_field "host"
 * for a pin naming no host. */
int scheduler_place(cp_app *app, const sched_request *req, char **host_id, cu_error **err);

#define CU_E_NO_CAPACITY "no_capacity"

#endif
