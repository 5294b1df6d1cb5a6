/* qmp.h: a client for QEMU's machine protocol (QMP) on a unix socket, as
 * libvirt's qemu_monitor_json.c: line-buffered JSON, the greeting, then
 * qmp_capabilities, then one command at a time with an "id"; asynchronous
 * events are dispatched by name between replies.
 *
 * What QEMU sends is untrusted input: every line is bounded (QMP_MAX_LINE),
 * must be one JSON object, and a reply must carry the id of the command in
 * flight.  Any protocol error, I/O error or timeout closes the connection,
 * so a late reply can never be taken for the answer to the next command.
 *
 * Timeouts are in milliseconds; a negative one counts as 0.
 *
 * Must not: block without a deadline, raise SIGPIPE, or keep more than one
 * command in flight on a connection. */
#ifndef CUMULUS_AGENT_QMP_H
#define CUMULUS_AGENT_QMP_H

#include <jansson.h>
#include <stddef.h>

#include "error.h"

/* The longest line (message) accepted from QEMU, newline excluded. */
#define QMP_MAX_LINE (1024 * 1024)
/* How many event names are remembered for qmp_wait_event() (oldest dropped). */
#define QMP_MAX_PENDING_EVENTS 64

/* cu_error codes (status 500) */
#define QMP_E_COMMAND "qmp_command_failed" /* QEMU answered {"error": ...} */
#define QMP_E_TIMEOUT "qmp_timeout"        /* no answer in time; connection closed */
#define QMP_E_CLOSED "qmp_closed"          /* QEMU went away, or closed after an error */
#define QMP_E_PROTOCOL "qmp_protocol"      /* malformed, oversized or unexpected message */

typedef struct qmp qmp;

/* Connects to `socket_path`, reads the greeting {"QMP": {...}} and
 * negotiates capabilities; `timeout_ms` bounds the whole handshake. */
qmp *qmp_connect(const char *socket_path, int timeout_ms, cu_error **err);

/* Sends one command and waits up to `timeout_ms` for its reply.  Returns
 * the "return" value (a new reference) or NULL with an error; a QEMU error
 * reply becomes QMP_E_COMMAND with "<class>: <desc>" in the message.
 * `arguments` (an object, or NULL) is stolen.  A mutex serialises callers,
 * so several threads may share one connection.  Events that arrive before
 * the reply go to the event handler and are remembered for qmp_wait_event().
 * On timeout, I/O or protocol errors the connection is closed and every
 * later call fails with QMP_E_CLOSED. */
json_t *qmp_execute(qmp *q, const char *command, json_t *arguments, int timeout_ms, cu_error **err);

/* Called for every event, on the thread that is reading (inside
 * qmp_execute/qmp_wait_event, with the connection's mutex held: it must
 * not call back into this connection).  `data` is NULL when the event has
 * none; it is only valid during the call. */
typedef void (*qmp_event_fn)(void *opaque, const char *event, const json_t *data);
void qmp_set_event_handler(qmp *q, qmp_event_fn fn, void *opaque);

/* query-status: copies "running", "paused", "shutdown", "prelaunch", ...
 * into buf.  0 or -1 (also when the status does not fit in `len`). */
int qmp_query_status(qmp *q, char *buf, size_t len, int timeout_ms, cu_error **err);

/* Waits up to `timeout_ms` (0: only look) for the event `event`, e.g.
 * "SHUTDOWN".  An event of that name already seen on this connection (for
 * instance while an earlier qmp_execute waited for its reply) counts and is
 * consumed; so does QEMU closing the socket (it exited).  Returns 1 seen,
 * 0 timeout (the connection stays usable), -1 error. */
int qmp_wait_event(qmp *q, const char *event, int timeout_ms, cu_error **err);

/* Closes the connection and frees `q` (NULL is fine).  No other thread may
 * be using `q`. */
void qmp_close(qmp *q);

#endif
