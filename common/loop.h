/* loop.h: a thread that runs one function every so often, and at once
 * when kicked (the control plane's reconciler, the agent's heartbeats).
 * Kicks that arrive while it runs are coalesced into one more run. */
#ifndef CUMULUS_LOOP_H
#define CUMULUS_LOOP_H

#include <pthread.h>
#include <time.h>

#include "error.h"

typedef struct cu_loop {
    void (*fn)(void *arg);
    void *arg;
    unsigned interval_ms;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int pending, stop, running;
    pthread_t thread;
} cu_loop;

/* Runs fn(arg) now, then every interval_ms and whenever kicked. */
int cu_loop_start(cu_loop *l, void (*fn)(void *), void *arg, unsigned interval_ms,
                  cu_error **err);
void cu_loop_kick(cu_loop *l);
/* Lets a run in progress finish, then joins the thread. */
void cu_loop_stop(cu_loop *l);

/* CLOCK_MONOTONIC now plus ms, for pthread_cond_timedwait on a condition
 * whose clock is CLOCK_MONOTONIC. */
struct timespec cu_deadline_after(unsigned ms);

/* CLOCK_MONOTONIC now, for measuring durations and timeouts. */
long long cu_monotonic_ms(void);
double cu_monotonic_s(void);

#endif
