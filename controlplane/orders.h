/* orders.h: the reconciler.  One thread compares desired with reported
 * state and makes them converge: it marks silent hosts down (their VMs
 * `unknown`; silence counts from this process's start at the earliest), places VMs that wait for a host, and pushes each VM's whole
 * spec (PUT) or its deletion (DELETE) to its host's agent until the agent
 * has accepted that generation, retrying with backoff.  Orders are
 * idempotent, so sending one twice is harmless; a failed or timed-out push
 * never deletes anything (only a DELETE the user asked for does). */
#ifndef CUMULUS_CP_ORDERS_H
#define CUMULUS_CP_ORDERS_H

#include "app.h"

int orders_start(cp_app *app, cu_error **err);
void orders_stop(cp_app *app);
/* Wakes the reconciler now (after a change worth acting on). */
void orders_kick(cp_app *app);
/* One pass, synchronously (used by the thread; exposed for tests). */
void orders_reconcile_once(cp_app *app);

#endif
