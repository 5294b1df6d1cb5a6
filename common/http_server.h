/* http_server.h: a thin layer over libmicrohttpd that every daemon's REST
 * API uses: a route table with {param} captures, JSON request bodies under
 * a size cap, bearer-token authentication with roles, JSON responses and
 * errors in the API's one shape, and a log line per request.
 *
 * Each connection gets its own thread (MHD_USE_THREAD_PER_CONNECTION), so a
 * handler may block (long-polling an operation) and a streamed body may
 * wait for its next bytes (Server-Sent Events) without stalling others.
 * Neither may wait for ever: the application wakes them before
 * http_server_stop(), which refuses new connections, gives the requests
 * under way (streams included) up to 10 s to finish and be answered, then
 * closes every connection and waits for its thread. */
#ifndef CUMULUS_HTTP_SERVER_H
#define CUMULUS_HTTP_SERVER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

#define HTTP_MAX_PARAMS 4

typedef struct http_principal {
    unsigned role;   /* one bit of the application's roles */
    char id[64];     /* who: "admin", a host id, ... */
} http_principal;

typedef struct http_request {
    const char *method;
    const char *path;
    char *params[HTTP_MAX_PARAMS]; /* {captures} of the matched pattern, in order */
    json_t *body;                  /* the JSON object sent, or NULL when none */
    http_principal principal;      /* set when the route needs auth */
    void *app;
    struct MHD_Connection *conn;
} http_request;

/* Writes the next bytes of a streamed body into buf (at most max) and
 * returns how many (> 0, never 0: wait until there is something), or
 * HTTP_STREAM_END to end the body, or HTTP_STREAM_ERROR to cut the
 * connection.  Called from the connection's own thread; `pos` is the
 * number of bytes sent so far.  (libmicrohttpd's content reader.) */
typedef ssize_t (*http_stream_fn)(void *cls, uint64_t pos, char *buf, size_t max);
#define HTTP_STREAM_END ((ssize_t)-1)
#define HTTP_STREAM_ERROR ((ssize_t)-2)

typedef struct http_response {
    int status;           /* 200 unless the handler says otherwise */
    json_t *body;         /* owned; sent as JSON */
    char *location;       /* owned; Location header */
    const char *raw;      /* static body sent as is (with content_type) */
    size_t raw_len;
    const char *content_type;
    int file_fd;          /* >= 0: send this open file (the server closes it) */
    long long file_size;  /* its size in bytes */
    /* A body of unknown length made as it goes, with content_type (chunked
     * under HTTP/1.1).  stream_free(stream_cls) runs once when the body has
     * ended, the client went away or the handler failed. */
    http_stream_fn stream;
    void *stream_cls;
    void (*stream_free)(void *cls);
} http_response;

/* Returns 0 after filling resp, or -1 with *err (turned into the JSON error). */
typedef int (*http_handler_fn)(http_request *req, http_response *resp, cu_error **err);

typedef struct http_route {
    const char *method;
    const char *pattern; /* "/v1/vms/{id}/actions" */
    http_handler_fn handler;
    unsigned roles;      /* 0: public; else the roles (bits) allowed */
} http_route;

/* Maps a bearer token to a principal; -1 with a 401 error when unknown. */
typedef int (*http_auth_fn)(void *app, const char *token, http_principal *out, cu_error **err);

typedef struct http_server_config {
    const char *listen; /* "127.0.0.1:8080", "[::1]:0"; port 0 picks a free port */
    const http_route *routes;
    size_t nroutes;
    http_auth_fn auth;
    void *app;
    /* bytes; larger bodies get 413.  A body has 60 s from its headers to
     * arrive, and 1 s more per 16 KiB it announces (http_server.c) */
    size_t max_body;
    unsigned connection_limit;  /* concurrent connections */
    /* seconds of inactivity before a connection is closed, and the most a
     * request's headers may take to arrive (http_watch.h) */
    unsigned connection_timeout;
    /* PEM texts (tls.h): both set, the listener speaks HTTPS only (GnuTLS
     * inside libmicrohttpd); both NULL, plain HTTP.  Read at start. */
    const char *tls_cert_pem;
    const char *tls_key_pem;
} http_server_config;

typedef struct http_server http_server;

http_server *http_server_start(const http_server_config *cfg, cu_error **err);
/* The port actually bound (useful with port 0). */
unsigned http_server_port(const http_server *s);
void http_server_stop(http_server *s);

/* A query-string argument, or NULL. */
const char *http_query(const http_request *req, const char *key);
/* A request header (case-insensitive name), or NULL. */
const char *http_header(const http_request *req, const char *name);

/* The request's socket.  While a stream waits for its next bytes nobody
 * watches it, so the stream checks now and then whether the client went
 * away: http_socket_closed() is 1 once the peer has closed it or it
 * failed, 0 otherwise; it never blocks and reads nothing. */
int http_request_socket(const http_request *req);
int http_socket_closed(int fd);
/* Lifts the inactivity timeout (connection_timeout) of the request's
 * connection, for a stream that may stay silent for longer than that
 * (libmicrohttpd closes a connection whose last write is older than the
 * timeout as soon as the stream has bytes again).  The stream must then
 * notice a client that went away itself (http_socket_closed). */
void http_request_no_timeout(const http_request *req);

/* Matches `path` against `pattern`; on success fills params (malloc'd) and
 * returns 1, else 0.  Exposed for unit tests. */
int http_route_match(const char *pattern, const char *path, char *params[HTTP_MAX_PARAMS]);

/* Splits "host:port" / "[v6]:port" into parts; -1 with a clear error. */
int http_parse_listen(const char *listen, char *host, size_t hostlen, unsigned *port,
                      cu_error **err);
/* The socket address of a listen setting ("localhost" is 127.0.0.1); returns
 * its family (AF_INET or AF_INET6), or -1 with a config error. */
struct sockaddr_storage;
int http_listen_sockaddr(const char *listen, struct sockaddr_storage *ss, cu_error **err);

#endif
