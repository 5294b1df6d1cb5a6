/* events.h: the record of every state change.
 *
 * Triggers on the vms, hosts, operations and images tables (schema.c,
 * migration 8) insert one row into `events` per real change, in the same
 * transaction as the change, so every write path records them and no C
 * code that writes has to remember to.  `seq` is the cursor: it grows with
 * every event and is never reused (AUTOINCREMENT); an event's id is made
 * from it ("evt-" and 16 hex digits).  Because every write holds the store's
 * lock for its whole transaction, events become visible in seq order: a
 * reader that has seen seq N has seen every event before it.
 *
 * Retention: the table keeps the last EVENTS_KEEP events; every 100th
 * insert deletes the ones older than that (a range of the primary key, so
 * no scan).  A cursor older than the oldest kept event goes on from there.
 *
 * GET /v1/events lists them (api_events.c); ?follow=true streams them as
 * Server-Sent Events, woken by events_wake(), which the store calls after
 * each commit that added events (store_on_events). */
#ifndef CUMULUS_CP_EVENTS_H
#define CUMULUS_CP_EVENTS_H

#include "http_server.h"

#define EVENTS_KEEP 100000

/* Most streams open at once; more get 503 (each holds a thread). */
#define EVENTS_MAX_STREAMS 64
/* Seconds between keep-alive comments on an idle stream. */
#define EVENTS_KEEPALIVE_S 15

/* GET /v1/events: a page, or with ?follow=true the live stream. */
int api_events_list(http_request *req, http_response *resp, cu_error **err);

/* Wakes every stream (and operation waiter): `app` is the cp_app. */
void events_wake(void *app);

#endif
