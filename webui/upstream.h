/* upstream.h: the control plane's side of a request the webui serves
 * (api_proxy.c's /api, metrics_page.c's token check): a client
 * connection whose parent is the browser's connection and whose opaque
 * user data points to the browser's session while both are there.
 *
 * Either side may go first.  When the browser's goes (or its connection
 * moves on to the next request), the session lets go of the client
 * connection (upstream_let_go), which lws then closes; when the client
 * connection is done, it lets go of the session (upstream_detach).
 * Afterwards no callback of one reaches the other's memory.  Service
 * thread only. */
#ifndef CUMULUS_WEBUI_UPSTREAM_H
#define CUMULUS_WEBUI_UPSTREAM_H

#include <libwebsockets.h>

/* Opens the client connection to the context's control plane (its
 * webui_context's api, TLS verified with tls-ca) as `protocol`, for
 * METHOD PATH, child of `parent`, with `session` as its opaque user
 * data; *slot is kept pointing to it (NULL once lws has failed it).
 * Returns it, or NULL when it could not even be started. */
struct lws *upstream_connect(struct lws *parent, const char *protocol, const char *method,
                             const char *path, void *session, struct lws **slot);

/* The session is done with *slot (the browser left, or a new request
 * began): the client connection no longer sees the session and is closed
 * at lws' next turn; *slot becomes NULL.  Nothing when *slot is NULL. */
void upstream_let_go(struct lws **slot);

/* The client connection `up` is done (answered, failed, closed): it lets
 * go of its session, whose *slot (slot may be NULL) forgets it. */
void upstream_detach(struct lws *up, struct lws **slot);

#endif
