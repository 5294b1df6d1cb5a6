/* console_relay.h: a VM's console (VNC screen or serial port) through the
 * dashboard's origin.
 *
 * The browser opens ws(s)://<webui>/console/v1/vms/{id}/{vnc|serial}
 * ?ticket=T with the subprotocol "binary" (what noVNC and websockify use),
 * the proxy_path of a console answer that went through the webui
 * (console_routes.h).  Before the upgrade the webui checks the Origin
 * (absent, or this very host: the dashboard's own pages) and takes the
 * ticket's route; then it opens the same path on the VM's host (the
 * agent's console listener, which checks the ticket itself) and relays
 * the bytes both ways.  It sends the agent no Origin: it is not a browser,
 * and it checked the browser's.
 *
 * Bounded both ways like the agent's own proxy: towards the browser two
 * reads of CONSOLE_RELAY_CHUNK in flight (the next read while the last is
 * written), then the agent's side is not read until the browser took
 * them; towards the agent the same.  Either side closing closes the other,
 * the browser's with the reason (e.g. the host refused the ticket). */
#ifndef CUMULUS_WEBUI_CONSOLE_RELAY_H
#define CUMULUS_WEBUI_CONSOLE_RELAY_H

#include <libwebsockets.h>

#define CONSOLE_RELAY_CHUNK (64 * 1024)

/* The protocols: "binary" (the browser's websocket; the context's user
 * pointer must be a webui_context) and "cumulus-console-upstream" (the
 * connection to the agent). */
extern const struct lws_protocols console_relay_protocol;
extern const struct lws_protocols console_upstream_protocol;

#endif
