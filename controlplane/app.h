/* app.h: the control plane's shared context, handed to every handler
 * through http_request.app, and the roles a bearer token can carry. */
#ifndef CUMULUS_CP_APP_H
#define CUMULUS_CP_APP_H

#include <pthread.h>

#include "loop.h"
#include "store.h"

enum cp_role {
    ROLE_ADMIN = 1u << 0, /* people and scripts: the whole API */
    ROLE_AGENT = 1u << 1, /* a joined host's agent: its own reports */
    ROLE_JOIN = 1u << 2,  /* the join token: registering a new host only */
};

typedef struct cp_app {
    cp_store *store;
    char *data_dir;
    /* Broadcast whenever an operation changes, for long-polling waiters. */
    pthread_mutex_t ops_lock;
    pthread_cond_t ops_changed;
    unsigned long ops_generation;
    int stopping; /* set at shutdown: waiters return at once */

    /* Scheduling and convergence settings (from the configuration). */
    double cpu_ratio, memory_ratio, disk_ratio; /* allocation ratios over host capacity */
    int placement_pack;                        /* 0: spread (most room left), 1: pack */
    unsigned host_timeout_s;                   /* no heartbeat for this long: host down */
    long long started_ms;                      /* monotonic: hosts' silence counts from here */
    unsigned reconcile_ms;                     /* how often the reconciler looks */

    cu_loop reconciler; /* orders.c */
    struct cp_runs *runs; /* the workers of runs in flight (runs.c) */
} cp_app;

#endif
