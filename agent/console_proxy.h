/* console_proxy.h: a VM's screen and serial console over websockets.
 *
 * GET /v1/vms/{id}/vnc?ticket=T, upgraded to a websocket with the
 * subprotocol "binary" (what noVNC and websockify speak), is piped to the
 * VM's VNC unix socket (RUN_DIR/vnc.sock) in both directions.  It runs on
 * a listener of its own (libwebsockets, one thread), apart from the order
 * API, since browsers reach it.
 *
 * Before the upgrade, before any byte reaches QEMU: the path names a VM of
 * this host whose VNC socket takes a connection, the ticket is good for
 * this VM and "vnc" (console_ticket.h: signed with the key derived from
 * this host's order token, 30 s, once), and an Origin header, when the
 * client sends one (browsers do), is one of the configured origins.  A
 * refusal closes the connection without the upgrade and is logged with
 * its reason.
 *
 * Back-pressure, as ttyd does it: a bounded buffer per direction.  What
 * is read from one side stops reading on that side once its buffer is
 * full (towards a viewer: two reads of a VNC socket, the next read while
 * the last is written; towards the VM: one), until the other side has
 * taken it, so a slow viewer slows QEMU's VNC server down rather than
 * growing a buffer, and neither side starves the other.  When either side
 * closes, so does the other.  GET /v1/vms/{id}/serial is the serial
 * console the same way (console_serial.c says how its viewers share it). */
#ifndef CUMULUS_AGENT_CONSOLE_PROXY_H
#define CUMULUS_AGENT_CONSOLE_PROXY_H

#include "agent.h"
#include "error.h"
#include "tls.h"

typedef struct console_proxy console_proxy;

/* Listens on `listen` (HOST:PORT, port 0: any) in a thread of its own.
 * `origins`: comma-separated origins a browser may open consoles from
 * ("http://host:port"), or NULL for none (only clients that send no
 * Origin, such as tests and tools).  With TLS on (`tls`, tls.h) the
 * listener speaks WSS only, with tls-cert and tls-key. */
console_proxy *console_proxy_start(agent *a, const char *listen, const char *origins,
                                   const cu_tls *tls, cu_error **err);

/* The port it listens on. */
unsigned console_proxy_port(const console_proxy *p);

/* Closes every connection and the listener, and waits for its thread. */
void console_proxy_stop(console_proxy *p);

#endif
