/* http_watch.h: deadlines for a request's headers and body
 * (http_server.c).
 *
 * libmicrohttpd's connection timeout counts inactivity: a client that
 * sends its headers, or its body, one byte every few seconds ("slowloris")
 * is never idle for long, so it could hold a connection, and with it a
 * thread, for hours; enough of them take every connection the server
 * allows.  This watch cuts (shutdown(2)) any connection whose request
 * headers are not all in within `header_s` of the connection's start or of
 * the end of its previous request, or whose body is not all in within the
 * time the server gave it when the headers came (http_watch_headers_in).
 * The answer is not bounded here: it has the inactivity timeout (a
 * long-poll or a followed log may take as long as it needs).
 *
 * Must not: close a descriptor (libmicrohttpd owns it; shutdown only
 * makes its thread see the end of the connection), nor touch libmicrohttpd
 * state from its own thread. */
#ifndef CUMULUS_HTTP_WATCH_H
#define CUMULUS_HTTP_WATCH_H

#include <stddef.h>

#include <microhttpd.h>

#include "error.h"

typedef struct http_watch http_watch;

/* How long a request's body may take to arrive: a minute, and a second
 * more for each 16 KiB it announces (`content_length`, its Content-Length
 * header or NULL; a chunked body counts as max_body, and none counts as
 * more), so an upload as large as allowed still passes at a slow link's
 * pace while a client trickling its bytes holds its connection for a
 * bounded time.  Also the webui's /api (api_proxy.c). */
unsigned http_body_deadline_s(const char *content_length, size_t max_body);

/* Starts the watch's thread (it looks once a second). */
http_watch *http_watch_start(unsigned header_s, cu_error **err);
/* Stops the thread; after MHD_stop_daemon (every connection closed). */
void http_watch_stop(http_watch *w);

/* MHD_OPTION_NOTIFY_CONNECTION's callback, with the watch as cls. */
void http_watch_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                       enum MHD_ConnectionNotificationCode code);
/* The request's headers are in (the access handler's first call): its
 * body has body_s seconds from now. */
void http_watch_headers_in(struct MHD_Connection *conn, unsigned body_s);
/* The request's body is in (the access handler's last call): no deadline
 * while it is answered. */
void http_watch_body_in(struct MHD_Connection *conn);
/* The request is over: the next one's headers have the deadline again. */
void http_watch_request_done(struct MHD_Connection *conn);

#endif
