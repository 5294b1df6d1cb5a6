/* console_ticket.h: the short-lived tickets that open a VM's console (its
 * VNC screen or serial port) through its host's agent.
 *
 * The control plane issues one per POST /v1/vms/{id}/console; the agent
 * checks it before the websocket upgrade, before any byte reaches QEMU.
 * A ticket is text, safe in a URL's query:
 *
 *   v1.<vm id>.<kind>.<expiry, unix ms>.<nonce, 32 hex>.<HMAC-SHA256, 64 hex>
 *
 * the HMAC taken over everything before its own '.' with a key the host
 * and the control plane both derive from the secret they already share:
 * the order token the agent gave at join (console_ticket_key).  It names one VM and one
 * kind ("vnc" or "serial"), lives CONSOLE_TICKET_TTL_MS, and is good once:
 * the agent remembers each nonce until its ticket expires.
 *
 * Refusals, in the order checked (a forged ticket learns nothing more):
 *   401 ticket_invalid   missing, malformed, or the HMAC does not match
 *   403 ticket_wrong_vm  signed, but for another VM or kind
 *   401 ticket_expired   past its expiry (or too far in the future)
 *   401 ticket_replayed  already used
 *   503 ticket_busy      too many unexpired tickets remembered */
#ifndef CUMULUS_CONSOLE_TICKET_H
#define CUMULUS_CONSOLE_TICKET_H

#include <pthread.h>
#include <stddef.h>

#include "error.h"

#define CONSOLE_TICKET_TTL_MS 30000
#define CONSOLE_TICKET_MAX 192 /* bytes, NUL included */
#define CONSOLE_TICKET_SKEW_MS 5000 /* clocks of the control plane and a host may differ */
#define CONSOLE_TICKET_REMEMBERED 4096

#define CONSOLE_TICKET_KEY_LEN 32

/* The ticket key of a host: HMAC-SHA256(order token, a fixed label), so a
 * ticket never is the token nor reveals it, and a new token (a host that
 * joins again) makes old tickets worthless. */
void console_ticket_key(const char *order_token, unsigned char key[CONSOLE_TICKET_KEY_LEN]);

/* The wall clock in unix milliseconds: the clock tickets are issued and
 * checked against (the control plane's and the host's, within the skew). */
long long console_ticket_now_ms(void);

/* Issues a ticket for `vm_id` and `kind` valid until now_ms + TTL into
 * out[CONSOLE_TICKET_MAX].  0, or -1 (400) for an id or kind that cannot
 * be part of one. */
int console_ticket_issue(const void *key, size_t keylen, const char *vm_id, const char *kind,
                         long long now_ms, char out[CONSOLE_TICKET_MAX], cu_error **err);

/* The nonces of tickets already used, until they expire. */
typedef struct console_ticket_seen {
    pthread_mutex_t lock;
    size_t n;
    struct {
        char nonce[33];
        long long expires_ms;
    } entries[CONSOLE_TICKET_REMEMBERED];
} console_ticket_seen;

void console_ticket_seen_init(console_ticket_seen *seen);
void console_ticket_seen_destroy(console_ticket_seen *seen);

/* Checks `ticket` (may be NULL) for `vm_id` and `kind` at now_ms and uses
 * it up: 0 good (once), -1 with the refusal above. */
int console_ticket_check(const void *key, size_t keylen, const char *ticket, const char *vm_id,
                         const char *kind, long long now_ms, console_ticket_seen *seen,
                         cu_error **err);

#endif
