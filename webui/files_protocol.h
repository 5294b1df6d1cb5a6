/* files_protocol.h: the webui's first protocol, "http": the dashboard's
 * files (served by lws from the "/" mount), and what lws hands to the
 * first protocol whatever the request: websockets that asked for no
 * protocol of ours (refused: the consoles' is "binary", console_relay.h)
 * and the verification of upstreams' certificates (tls_verify.h).
 *
 * It counts the files' answers (webui_metrics.h, kind "files"): a file
 * sent is lws' FILE_COMPLETION (2xx); a path with no file comes here as an
 * HTTP callback and is answered 404 by lws' dummy (4xx); a request lws
 * answers itself without either (304 Not Modified for a known ETag, or a
 * redirect) is counted as 3xx when the next request on the connection
 * begins (files_protocol_settle() from the other protocols' first
 * callback of a request) or the connection closes. */
#ifndef CUMULUS_WEBUI_FILES_PROTOCOL_H
#define CUMULUS_WEBUI_FILES_PROTOCOL_H

#include <libwebsockets.h>

extern const struct lws_protocols files_protocol;

/* A new request begins on `wsi` (a browser's connection): the files
 * request before it, if lws answered it itself, is counted now. */
void files_protocol_settle(struct lws *wsi);

#endif
