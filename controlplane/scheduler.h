/* scheduler.h: where a new VM goes.  A host qualifies when it is `up`, has
 * the image's architecture, and has room for the size after what is
 * already placed on it (capacity times the allocation ratio); the one with
 * the most room left wins (spread). */
#ifndef CUMULUS_CP_SCHEDULER_H
#define CUMULUS_CP_SCHEDULER_H

#include "app.h"

typedef struct sched_request {
    long long vcpus, memory_mib, disk_gib;
    const char *architecture;
    const char *size_name; /* for messages */
} sched_request;

/* Call inside a store transaction.  Returns 1 with *host_id (malloc'd) when
 * placed, 0 when no host is up at all (the VM waits for one), -1 with a
 * 409 no_capacity error naming what was short when hosts are up but none
 * fits. */
int scheduler_place(cp_app *app, const sched_request *req, char **host_id, cu_error **err);

#define CU_E_NO_CAPACITY "no_capacity"

#endif
