/* http_server.c: see http_server.h.
 *
 * libmicrohttpd calls the access handler several times per request: once
 * when the headers are in, then once per chunk of upload data, then a last
 * time with no data.  We never answer on the first call, append upload
 * chunks under the size cap, dispatch on the last call, and free the
 * per-request state in the completion callback.
 *
 * Every answered request is counted in the process's metrics registry
 * (metrics.h) by method, route pattern and status, and timed: a stream's
 * time is until its first byte is ready, not its whole life. */
#define _GNU_SOURCE
#include "http_server.h"
#include "http_watch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "json_util.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"

struct http_server {
    http_server_config cfg;
    struct MHD_Daemon *daemon;
    http_watch *watch; /* the deadlines for requests' headers and bodies */
    unsigned port;
    /* Requests begun and not completed (streams included): stopping lets
     * them finish, for a while. */
    pthread_mutex_t lock;
    pthread_cond_t requests_done;
    unsigned requests;
};

#define STOP_GRACE_MS 10000 /* how long stopping waits for requests to end */

typedef struct request_state {
    struct timespec start;
    char *method; /* for the log line, which is written on completion */
    char *url;
    char *body;
    size_t len;
    int too_large;
    int status; /* for the log line */
    int dispatched;
    int streamed;      /* the answer was a stream: its end is its normal end */
    const char *route; /* the matched route's pattern (static), for metrics */
    double stream_s;   /* a stream's latency: until its answer was queued */
} request_state;

static double elapsed_ms(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) * 1e3 +
           (double)(now.tv_nsec - start->tv_nsec) / 1e6;
}

/* ---- routing -------------------------------------------------------- */

static const char *next_segment(const char *s, size_t *len)
{
    const char *slash = strchr(s, '/');
    *len = slash ? (size_t)(slash - s) : strlen(s);
    return s;
}

static void free_params(char *params[HTTP_MAX_PARAMS])
{
    for (int i = 0; i < HTTP_MAX_PARAMS; i++) {
        free(params[i]);
        params[i] = NULL;
    }
}

int http_route_match(const char *pattern, const char *path, char *params[HTTP_MAX_PARAMS])
{
    int n = 0;
    while (*pattern && *path) {
        size_t plen, slen;
        const char *pseg = next_segment(pattern, &plen);
        const char *sseg = next_segment(path, &slen);
        if (plen >= 2 && pseg[0] == '{' && pseg[plen - 1] == '}') {
            if (slen == 0 || n >= HTTP_MAX_PARAMS)
                goto nomatch;
            params[n] = strndup(sseg, slen);
            if (params[n++] == NULL)
                abort();
        } else if (plen != slen || memcmp(pseg, sseg, plen) != 0) {
            goto nomatch;
        }
        pattern += plen;
        path += slen;
        if (*pattern != *path)
            goto nomatch;
        if (*pattern == '/') {
            pattern++;
            path++;
        }
    }
    if (*pattern == '\0' && *path == '\0')
        return 1;
nomatch:
    free_params(params);
    return 0;
}

/* ---- responses ------------------------------------------------------ */

static enum MHD_Result send_body(struct MHD_Connection *conn, request_state *st, int status,
                                 const char *body, size_t len, enum MHD_ResponseMemoryMode mode,
                                 const char *content_type, const char *location)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, mode);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (location)
        MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, location);
    if (status == 401)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    st->status = status;
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

/* A file, streamed by MHD from the descriptor (which it closes). */
static enum MHD_Result send_file(struct MHD_Connection *conn, request_state *st, int fd,
                                 long long size, const char *content_type)
{
    struct MHD_Response *r = MHD_create_response_from_fd64((uint64_t)size, fd);
    if (r == NULL) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            content_type ? content_type : "application/octet-stream");
    st->status = 200;
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

_Static_assert(HTTP_STREAM_END == MHD_CONTENT_READER_END_OF_STREAM &&
                   HTTP_STREAM_ERROR == MHD_CONTENT_READER_END_WITH_ERROR,
               "http_stream_fn is libmicrohttpd's content reader");

#define STREAM_BLOCK 16384 /* largest piece a stream is asked for at once */

/* A stream in flight. */
typedef struct stream_ctx {
    const char *route; /* for the open-streams gauge */
    http_stream_fn read;
    void *cls;
    void (*free)(void *cls);
} stream_ctx;

static ssize_t stream_read(void *arg, uint64_t pos, char *buf, size_t max)
{
    stream_ctx *x = arg;
    return x->read(x->cls, pos, buf, max);
}

/* MHD is done with the response: its last chunk is sent, or the
 * connection is gone. */
static void stream_done(void *arg)
{
    stream_ctx *x = arg;
    if (x->free)
        x->free(x->cls);
    metrics_http_stream(x->route, -1);
    free(x);
}

/* A body made by resp->stream as it goes: MHD calls it from this
 * connection's thread whenever the socket can take more. */
static enum MHD_Result send_stream(struct MHD_Connection *conn, request_state *st,
                                   const http_response *resp)
{
    stream_ctx *x = malloc(sizeof(*x));
    if (x == NULL)
        abort();
    *x = (stream_ctx){st->route, resp->stream, resp->stream_cls, resp->stream_free};
    metrics_http_stream(x->route, 1);
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK,
                                                               stream_read, x, stream_done);
    if (r == NULL) {
        stream_done(x);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            resp->content_type ? resp->content_type : "application/octet-stream");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    /* Proxies (nginx) would otherwise hold the pieces back. */
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    st->status = resp->status;
    st->streamed = 1;
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)resp->status, r);
    MHD_destroy_response(r); /* frees stream_cls (stream_free) when MHD is done with it */
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *conn, request_state *st, int status,
                                 const json_t *doc, const char *location)
{
    char *text = cu_json_dump(doc);
    size_t len = strlen(text);
    /* A trailing newline so `curl` output ends cleanly in a terminal. */
    char *withnl = realloc(text, len + 2);
    if (withnl == NULL)
        abort();
    withnl[len] = '\n';
    withnl[len + 1] = '\0';
    return send_body(conn, st, status, withnl, len + 1, MHD_RESPMEM_MUST_FREE, "application/json",
                     location);
}

static enum MHD_Result send_error(struct MHD_Connection *conn, request_state *st, const cu_error *e)
{
    if (e->status >= 500)
        log_error("%s", e->message);
    json_t *doc = cu_json_error_doc(e);
    enum MHD_Result r = send_json(conn, st, e->status, doc, NULL);
    json_decref(doc);
    return r;
}

/* ---- dispatch ------------------------------------------------------- */

static const char *bearer_token(struct MHD_Connection *conn)
{
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    return *h ? h : NULL;
}

static int authenticate(http_server *s, const http_route *route, http_request *req, cu_error **err)
{
    if (route->roles == 0)
        return 0;
    const char *token = bearer_token(req->conn);
    if (token == NULL)
        return cu_error_set(err, 401, CU_E_UNAUTHORIZED, NULL,
                            "this call needs 'Authorization: Bearer TOKEN'");
    if (s->cfg.auth(s->cfg.app, token, &req->principal, err) < 0)
        return -1;
    if ((route->roles & req->principal.role) == 0)
        return cu_error_set(err, 403, CU_E_FORBIDDEN, NULL, "this token may not call %s %s",
                            route->method, route->pattern);
    return 0;
}

/* Finds the route; distinguishes "no such path" (404) from "path exists,
 * other method" (405). */
static const http_route *find_route(http_server *s, http_request *req, cu_error **err)
{
    int path_known = 0;
    for (size_t i = 0; i < s->cfg.nroutes; i++) {
        const http_route *r = &s->cfg.routes[i];
        if (!http_route_match(r->pattern, req->path, req->params))
            continue;
        if (strcmp(r->method, req->method) == 0)
            return r;
        path_known = 1;
        free_params(req->params);
    }
    if (path_known)
        cu_error_set(err, 405, CU_E_METHOD, NULL, "method %s is not allowed on '%s'", req->method,
                     req->path);
    else
        cu_error_set(err, 404, CU_E_NO_ROUTE, NULL, "no such API path '%s'", req->path);
    return NULL;
}

static int run_handler(http_server *s, http_request *req, request_state *st, http_response *resp,
                       cu_error **err)
{
    const http_route *route = find_route(s, req, err);
    if (route == NULL)
        return -1;
    st->route = route->pattern;
    if (authenticate(s, route, req, err) < 0)
        return -1;
    if (st->too_large)
        return cu_error_set(err, 413, CU_E_TOO_LARGE, NULL,
                            "the request body is larger than the limit of %zu bytes",
                            s->cfg.max_body);
    if (st->len > 0 && (req->body = cu_json_parse_object(st->body, st->len, err)) == NULL)
        return -1;
    return route->handler(req, resp, err);
}

static enum MHD_Result dispatch(http_server *s, struct MHD_Connection *conn, const char *method,
                                const char *url, request_state *st)
{
    http_request req = {.method = method, .path = url, .app = s->cfg.app, .conn = conn};
    http_response resp = {.status = 200, .file_fd = -1};
    _cleanup_error_ cu_error *err = NULL;
    enum MHD_Result ret;

    if (run_handler(s, &req, st, &resp, &err) < 0) {
        if (resp.file_fd >= 0)
            close(resp.file_fd);
        if (resp.stream && resp.stream_free)
            resp.stream_free(resp.stream_cls);
        ret = send_error(conn, st, err);
    } else if (resp.stream)
        ret = send_stream(conn, st, &resp);
    else if (resp.file_fd >= 0)
        ret = send_file(conn, st, resp.file_fd, resp.file_size, resp.content_type);
    else if (resp.raw)
        ret = send_body(conn, st, resp.status, resp.raw, resp.raw_len, MHD_RESPMEM_PERSISTENT,
                        resp.content_type ? resp.content_type : "application/octet-stream",
                        resp.location);
    else if (resp.body)
        ret = send_json(conn, st, resp.status, resp.body, resp.location);
    else
        ret = send_body(conn, st, resp.status == 200 ? 204 : resp.status, "", 0,
                        MHD_RESPMEM_PERSISTENT, "application/json", resp.location);
    if (st->streamed)
        st->stream_s = elapsed_ms(&st->start) / 1e3;
    json_decref(resp.body);
    json_decref(req.body);
    free(resp.location);
    free_params(req.params);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    http_server *s = cls;
    request_state *st = *con_cls;
    if (st == NULL) { /* first call: headers only; never answer yet */
        http_watch_headers_in(
            conn, http_body_deadline_s(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                                   MHD_HTTP_HEADER_CONTENT_LENGTH),
                                       s->cfg.max_body));
        st = calloc(1, sizeof(*st));
        if (st == NULL)
            return MHD_NO;
        clock_gettime(CLOCK_MONOTONIC, &st->start);
        st->method = strdup(method);
        st->url = strdup(url);
        if (st->method == NULL || st->url == NULL)
            abort();
        *con_cls = st;
        pthread_mutex_lock(&s->lock);
        s->requests++;
        pthread_mutex_unlock(&s->lock);
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (st->too_large || st->len + n > s->cfg.max_body) {
            st->too_large = 1; /* keep reading and dropping, answer at the end */
            free(st->body);
            st->body = NULL;
            st->len = 0;
            return MHD_YES;
        }
        char *grown = realloc(st->body, st->len + n + 1);
        if (grown == NULL)
            return MHD_NO;
        memcpy(grown + st->len, upload_data, n);
        st->body = grown;
        st->len += n;
        st->body[st->len] = '\0';
        return MHD_YES;
    }
    if (st->dispatched)
        return MHD_YES;
    st->dispatched = 1;
    http_watch_body_in(conn);
    return dispatch(s, conn, method, url, st);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    http_server *s = cls;
    request_state *st = *con_cls;
    http_watch_request_done(conn);
    if (st == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    s->requests--;
    pthread_cond_broadcast(&s->requests_done);
    pthread_mutex_unlock(&s->lock);
    if (st->status != 0) /* an answer was queued (else the client left first) */
        metrics_http_request(st->method, st->route, st->status,
                             st->streamed ? st->stream_s : elapsed_ms(&st->start) / 1e3);
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK || st->streamed)
        cu_log(st->status >= 500 ? CU_LOG_WARN : CU_LOG_INFO, "%s %s %d %.1fms", st->method,
               st->url, st->status, elapsed_ms(&st->start));
    else
        log_info("%s %s ended before an answer was sent (code %d)", st->method, st->url, (int)toe);
    free(st->method);
    free(st->url);
    free(st->body);
    free(st);
    *con_cls = NULL;
}

/* libmicrohttpd decodes %00 in the path into a NUL, which ends the path
 * as the handler sees it: "DELETE /v1/vms/web%00/snapshots/s" acted on
 * /v1/vms/web.  A path or query argument holding %00 is left as sent, so
 * it names nothing. */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    return strstr(s, "%00") ? strlen(s) : MHD_http_unescape(s);
}

/* ---- lifecycle ------------------------------------------------------ */

static void http_server_free(http_server *s)
{
    http_watch_stop(s->watch);
    pthread_cond_destroy(&s->requests_done);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

http_server *http_server_start(const http_server_config *cfg, cu_error **err)
{
    struct sockaddr_storage ss;
    int family = http_listen_sockaddr(cfg->listen, &ss, err);
    if (family < 0)
        return NULL;
    http_server *s = calloc(1, sizeof(*s));
    if (s == NULL)
        abort();
    s->cfg = *cfg;
    metrics_http_init();
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->requests_done, &ca);
    pthread_condattr_destroy(&ca);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    int tls = cfg->tls_cert_pem != NULL && cfg->tls_key_pem != NULL;
    if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        http_server_free(s);
        cu_error_set(err, 500, CU_E_CONFIG, NULL,
                     "this libmicrohttpd was built without TLS: cannot serve HTTPS on '%s'",
                     cfg->listen);
        return NULL;
    }
    /* MHD copies neither: the PEM texts must outlive the daemon (tls.h). */
    struct MHD_OptionItem tls_opts[] = {
        {tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, (void *)cfg->tls_key_pem},
        {MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)cfg->tls_cert_pem},
        {MHD_OPTION_END, 0, NULL}};
    if (tls)
        flags |= MHD_USE_TLS;
    unsigned timeout = cfg->connection_timeout ? cfg->connection_timeout : 30u;
    if ((s->watch = http_watch_start(timeout, err)) == NULL) {
        http_server_free(s);
        return NULL;
    }
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION,
        http_watch_notify, s->watch, MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
        MHD_OPTION_CONNECTION_LIMIT,
        cfg->connection_limit ? cfg->connection_limit : 512u, MHD_OPTION_CONNECTION_TIMEOUT,
        timeout, MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
    if (s->daemon == NULL) {
        http_server_free(s);
        cu_error_set(err, 500, CU_E_INTERNAL, NULL,
                     tls ? "cannot listen with TLS on '%s' (address in use or not available on "
                           "this host, or GnuTLS refused the certificate or key)"
                         : "cannot listen on '%s' (address in use or not available on this host)",
                     cfg->listen);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : 0;
    return s;
}

unsigned http_server_port(const http_server *s)
{
    return s->port;
}

/* New connections are refused from now on; requests under way (a body
 * still uploading, a handler running, a stream told to end by the
 * application's stop flag) finish and are answered before the connections
 * are cut, so no client loses an answer to a request that was done. */
static void finish_requests(http_server *s)
{
    MHD_socket listener = MHD_quiesce_daemon(s->daemon);
    if (listener != MHD_INVALID_SOCKET)
        close(listener);
    struct timespec deadline = cu_deadline_after(STOP_GRACE_MS);
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    if (s->requests > 0)
        log_info("stopping: finishing %u request(s) in flight", s->requests);
    while (s->requests > 0 && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&s->requests_done, &s->lock, &deadline);
    if (s->requests > 0)
        log_warn("stopping with %u request(s) unfinished after %d s: cutting them", s->requests,
                 STOP_GRACE_MS / 1000);
    pthread_mutex_unlock(&s->lock);
}

void http_server_stop(http_server *s)
{
    if (s == NULL)
        return;
    finish_requests(s);
    MHD_stop_daemon(s->daemon);
    http_server_free(s);
}

const char *http_query(const http_request *req, const char *key)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *http_header(const http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

int http_request_socket(const http_request *req)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    return info ? info->connect_fd : -1;
}

void http_request_no_timeout(const http_request *req)
{
    MHD_set_connection_option(req->conn, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned int)0);
}

int http_socket_closed(int fd)
{
    if (fd < 0)
        return 0;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}
