/* api_proxy.h: the dashboard's /api, passed to the control plane.
 *
 * A request to /api/<path>?<query> on the webui's listener goes to
 * <control plane>/<path>?<query> with the same method, the Authorization
 * and Content-Type headers and the body; the answer comes back with its
 * status, Content-Type, WWW-Authenticate (a 401's challenge) and body,
 * streamed as it arrives (long-polls and followed outputs included: no
 * idle timeout once the answer has begun), so the browser talks to one
 * origin.  The answer to POST /v1/vms/{id}/console is held whole and gets
 * a proxy_path (console_routes.h).
 *
 * Bounded both ways: a request body is held whole up to API_PROXY_MAX_BODY
 * (larger: 413, nothing sent upstream) and must be in within the daemons'
 * body deadline (http_watch.h; past it the connection is closed); the
 * answer is passed one chunk at a time, the control plane's connection not
 * read while the browser has not taken the last chunk.  A control plane
 * that cannot be reached is a 502 with the usual JSON error, one that has
 * not begun its answer within the webui's api-timeout (api_deadline.h) a
 * 504.  Everything runs on the webui's service thread (libwebsockets). */
#ifndef CUMULUS_WEBUI_API_PROXY_H
#define CUMULUS_WEBUI_API_PROXY_H

#include <libwebsockets.h>

#define API_PROXY_MAX_BODY (8 * 1024 * 1024)

/* The control plane: host, port, and whether it speaks TLS (https://,
 * verified with the webui's tls-ca). */
typedef struct api_upstream {
    char host[256];
    int port;
    int tls;
} api_upstream;

/* "http://host:port" or "https://host:port" -> upstream: 0, or -1 with a
 * message in why[256]. */
int api_upstream_parse(const char *url, api_upstream *up, char why[256]);

/* The protocols: "cumulus-api" (mounted at /api as a callback mount) and
 * "cumulus-api-upstream" (its client connections).  The context's user
 * pointer must be an api_upstream. */
extern const struct lws_protocols api_proxy_protocol;
extern const struct lws_protocols api_upstream_protocol;

#endif
