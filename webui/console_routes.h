/* console_routes.h: where the dashboard's console websockets go.
 *
 * The control plane answers POST /v1/vms/{id}/console with the websocket
 * URL on the VM's host (its agent) and a ticket.  The browser talks to
 * one origin, so the webui passes that answer on with "proxy_path" added
 * (/console/v1/vms/{id}/{kind}?ticket=T, on the webui) and remembers the
 * route ticket -> agent URL until the ticket expires.  A console websocket
 * to the webui is relayed (console_relay.h) only along a route the webui
 * itself saw the control plane give to a signed-in user: it connects
 * nowhere else, so a browser cannot make it reach an address of its
 * choosing.  A route is taken once, like its ticket.  Everything runs on
 * the webui's service thread: no locking. */
#ifndef CUMULUS_WEBUI_CONSOLE_ROUTES_H
#define CUMULUS_WEBUI_CONSOLE_ROUTES_H

#include <stddef.h>

#include "console_ticket.h"

#define CONSOLE_ROUTES_MAX 256
#define CONSOLE_ROUTE_PREFIX "/console"

typedef struct console_route {
    char ticket[CONSOLE_TICKET_MAX];
    char host[256]; /* the agent's console listener: ws://host:port or wss:// */
    int port;
    int tls;        /* wss:// */
    char path[256]; /* /v1/vms/{id}/{kind}, without the query */
    long long expires_ms;
} console_route;

typedef struct console_routes {
    console_route r[CONSOLE_ROUTES_MAX];
    size_t n;
} console_routes;

/* The control plane's answer to a console request (JSON) -> the same with
 * "proxy_path" added, the route remembered: a malloc'd string, its length
 * in *out_len; or NULL (the answer is passed on as it is), logged why. */
char *console_routes_adopt(console_routes *t, const char *answer, size_t len, long long now_ms,
                           size_t *out_len);

/* The route of a websocket to `path` (/console/v1/vms/{id}/{kind}) with
 * `ticket`: 0 with *out filled and the route forgotten; -1 when there is
 * none (never issued through this webui, already taken, expired, or for
 * another path). */
int console_routes_take(console_routes *t, const char *path, const char *ticket, long long now_ms,
                        console_route *out);

#endif
