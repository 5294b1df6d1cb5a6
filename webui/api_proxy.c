/* api_proxy.c: see api_proxy.h.
 *
 * The browser's request is a server connection of protocol "cumulus-api";
 * its per-session data (proxied) holds the request and the chunk in
 * flight.  The control plane's connection is a client connection whose
 * parent is the browser's; its opaque user data points to the session,
 * cleared when the browser goes so nothing reaches a freed session.  Its
 * own per-session data is one flag: the connection is counted as open
 * (webui_metrics.h) until whichever of its ends lws reports first. */
#define _GNU_SOURCE
#include "api_proxy.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_deadline.h"
#include "files_protocol.h"
#include "http_watch.h"
#include "log.h"
#include "upstream.h"
#include "webui_context.h"
#include "webui_metrics.h"

#define CHUNK (16 * 1024)
/* A deadline is looked at this often (tick()), and lws' own timeouts are
 * kept this much past it, so that it is ours that ends the request. */
#define TICK_US LWS_USEC_PER_SEC
#define MARGIN_US (2 * LWS_USEC_PER_SEC)

typedef struct proxied {
    struct lws *up;      /* the control plane's connection, once made */
    int method;          /* LWSHUMETH_* */
    char path[4096];     /* upstream path and query */
    char auth[1024];     /* Authorization, passed on */
    char ctype[256];     /* Content-Type of the request */
    unsigned char *body; /* the request's body, whole */
    size_t body_len, body_cap;
    int too_big;     /* the body passed API_PROXY_MAX_BODY: 413 */
    lws_usec_t deadline_us; /* lws_now_usecs() by which the body must be in or the
                               answer begun (api_deadline.h), or 0: none */
    unsigned deadline_s;    /* how long that was, for the messages */
    int awaiting_body;      /* the deadline is the body's */
    int status;      /* the answer's status, once its headers came */
    char rtype[256]; /* its Content-Type */
    char challenge[256]; /* its WWW-Authenticate (a 401's), or "" */
    long long rlen;  /* its Content-Length, or -1 */
    int headers_sent;
    int done;          /* the answer is complete (or failed) */
    int console;       /* a POST /v1/vms/{id}/console (console_routes.h) */
    int collect;       /* its answer is held whole, to add proxy_path */
    int error_status;  /* a failure to answer with, */
    char error[320];   /* its JSON body ("": none) */
    size_t len;        /* bytes of buf waiting for the browser */
    unsigned char buf[LWS_PRE + CHUNK];
} proxied;

static const char *const method_names[] = {
    [LWSHUMETH_GET] = "GET", [LWSHUMETH_POST] = "POST",   [LWSHUMETH_OPTIONS] = "OPTIONS",
    [LWSHUMETH_PUT] = "PUT", [LWSHUMETH_PATCH] = "PATCH", [LWSHUMETH_DELETE] = "DELETE"};

int api_upstream_parse(const char *url, api_upstream *up, char why[256])
{
    const char *p = url;
    up->tls = strncmp(p, "https://", 8) == 0;
    if (!up->tls && strncmp(p, "http://", 7) != 0) {
        snprintf(why, 256, "control-plane must be an http:// or https:// URL, got '%.64s'", url);
        return -1;
    }
    p += up->tls ? 8 : 7;
    const char *colon = strrchr(p, ':');
    size_t hostlen = colon ? (size_t)(colon - p) : strcspn(p, "/");
    if (hostlen == 0 || hostlen >= sizeof(up->host)) {
        snprintf(why, 256, "control-plane URL '%.64s' has no host", url);
        return -1;
    }
    memcpy(up->host, p, hostlen);
    up->host[hostlen] = '\0';
    up->port = up->tls ? 443 : 80;
    if (colon) {
        char *end = NULL;
        long port = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || (*end && *end != '/') || port < 1 || port > 65535) {
            snprintf(why, 256, "control-plane URL '%.64s' has a bad port", url);
            return -1;
        }
        up->port = (int)port;
    }
    return 0;
}

/* The query, %-encoded again (lws hands it over decoded, one fragment per
 * '&'-separated argument): '&' joins the arguments, '=' stays their
 * separator. */
static void append_query(struct lws *wsi, char *path, size_t cap)
{
    char arg[2048];
    size_t n = strlen(path);
    for (int i = 0; lws_hdr_copy_fragment(wsi, arg, sizeof(arg), WSI_TOKEN_HTTP_URI_ARGS, i) > 0;
         i++) {
        if (n + 1 < cap)
            path[n++] = i == 0 ? '?' : '&';
        for (const unsigned char *c = (const unsigned char *)arg; *c && n + 4 < cap; c++) {
            if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                strchr("-._~=", *c))
                path[n++] = (char)*c;
            else
                n += (size_t)snprintf(path + n, cap - n, "%%%02X", *c);
        }
        path[n] = '\0';
    }
}

/* Starts a deadline `secs` from now, for the rest of the request's body
 * (body) or for the answer to begin; tick() looks at it every second. */
static void arm(struct lws *wsi, proxied *s, unsigned secs, int body)
{
    s->deadline_s = secs;
    s->deadline_us = lws_now_usecs() + (lws_usec_t)secs * LWS_USEC_PER_SEC;
    s->awaiting_body = body;
    lws_set_timer_usecs(wsi, TICK_US);
}

static void disarm(struct lws *wsi, proxied *s)
{
    s->deadline_us = 0;
    lws_set_timer_usecs(wsi, LWS_SET_TIMER_USEC_CANCEL);
}

/* Ends the request with an error of the API's shape (nothing of the
 * answer may have been sent yet): STATUS, CODE and the message. */
__attribute__((format(printf, 5, 6))) static void
answer_error(struct lws *wsi, proxied *s, int status, const char *code, const char *fmt, ...)
{
    char message[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    snprintf(s->error, sizeof(s->error), "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}",
             code, message);
    s->error_status = status;
    s->collect = 0;
    s->done = 1;
    disarm(wsi, s);
    lws_callback_on_writable(wsi);
}

static const char unreachable[] = "the control plane cannot be reached";

/* Opens the control plane's connection for the request: 0, or -1 (the
 * session is failed with a 502 and made writable). */
static int connect_upstream(struct lws *wsi, proxied *s)
{
    struct lws *up = upstream_connect(wsi, api_upstream_protocol.name, method_names[s->method],
                                      s->path, s, &s->up);
    if (up == NULL) {
        answer_error(wsi, s, 502, "upstream_unavailable", "%s", unreachable);
        return -1;
    }
    webui_context *w = lws_context_user(lws_get_context(wsi));
    arm(wsi, s, api_deadline_answer_s(s->path, w->api_timeout_s), 0);
    /* An HTTP client's per-session data exists from here (lws makes it at
     * once when a method is given). */
    int *counted = lws_wsi_user(up);
    if (counted) {
        *counted = 1;
        webui_metrics_api_connection(1);
    }
    return 0;
}

/* A 401's WWW-Authenticate, passed on as the control plane sent it
 * (RFC 9110: a 401 carries its challenge). */
static int add_challenge(struct lws *wsi, const proxied *s, unsigned char **p, unsigned char *end)
{
    if (s->error[0] || s->challenge[0] == '\0')
        return 0;
    return lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_WWW_AUTHENTICATE,
                                        (const unsigned char *)s->challenge,
                                        (int)strlen(s->challenge), p, end);
}

/* The answer's headers, to the browser: 0, or -1 to close. */
static int send_headers(struct lws *wsi, proxied *s)
{
    unsigned char head[LWS_PRE + 1024], *start = head + LWS_PRE, *p = start,
                                        *end = head + sizeof(head) - 1;
    int status = s->error[0] ? s->error_status : s->status;
    const char *type = s->error[0] ? "application/json" : (s->rtype[0] ? s->rtype : NULL);
    lws_filepos_t len = s->error[0]    ? strlen(s->error)
                        : s->rlen >= 0 ? (lws_filepos_t)s->rlen
                                       : LWS_ILLEGAL_HTTP_CONTENT_LEN;
    if (lws_add_http_common_headers(wsi, (unsigned)status, type ? type : "text/plain", len, &p,
                                    end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                     (const unsigned char *)"no-store", 8, &p, end) ||
        add_challenge(wsi, s, &p, end) || lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    s->headers_sent = 1;
    webui_metrics_request("api", status);
    /* Its body may be a stream quiet for long (the events' keep-alive
     * comes every 15 s, a long-poll waits minutes): no idle timeout while
     * the control plane's side is open; a browser that is gone shows as a
     * failed write. */
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
    return 0;
}

static int browser_writable(struct lws *wsi, proxied *s)
{
    if (!s->headers_sent) {
        if ((s->status == 0 || s->collect) && !s->error[0])
            return 0; /* not yet */
        if (send_headers(wsi, s) < 0)
            return -1;
        lws_callback_on_writable(wsi);
        return 0;
    }
    if (s->error[0]) {
        size_t n = strlen(s->error);
        memcpy(s->buf + LWS_PRE, s->error, n);
        if (lws_write(wsi, s->buf + LWS_PRE, n, LWS_WRITE_HTTP_FINAL) < (int)n)
            return -1;
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    if (s->len > 0) {
        enum lws_write_protocol how = s->done ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP;
        if (lws_write(wsi, s->buf + LWS_PRE, s->len, how) < (int)s->len)
            return -1;
        s->len = 0;
        if (s->done)
            return lws_http_transaction_completed(wsi) ? -1 : 0;
        if (s->up)
            lws_rx_flow_control(s->up, 1); /* the next chunk */
        return 0;
    }
    if (s->done) {
        if (lws_write(wsi, s->buf + LWS_PRE, 0, LWS_WRITE_HTTP_FINAL) < 0)
            return -1;
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    return 0;
}

static int take_body(proxied *s, const void *in, size_t len)
{
    if (s->too_big)
        return 0;
    if (s->body_len + len > API_PROXY_MAX_BODY) {
        s->too_big = 1;
        free(s->body);
        s->body = NULL;
        return 0;
    }
    if (s->body_len + len > s->body_cap) {
        size_t cap = s->body_cap ? s->body_cap * 2 : 16384;
        while (cap < s->body_len + len)
            cap *= 2;
        unsigned char *b = realloc(s->body, cap);
        if (b == NULL)
            return -1;
        s->body = b;
        s->body_cap = cap;
    }
    memcpy(s->body + s->body_len, in, len);
    s->body_len += len;
    return 0;
}

/* "/v1/vms/{id}/console", nothing more. */
static int is_console_request(const char *path)
{
    const char *p = "/v1/vms/";
    if (strncmp(path, p, strlen(p)) != 0)
        return 0;
    path += strlen(p);
    size_t id = strcspn(path, "/?");
    return id > 0 && strcmp(path + id, "/console") == 0;
}

static int begin(struct lws *wsi, proxied *s, const char *in)
{
    char *uri = NULL;
    int ulen = 0;
    files_protocol_settle(wsi); /* a file before this on the connection */
    upstream_let_go(&s->up);    /* a request before this one on the connection, still going */
    free(s->body);
    disarm(wsi, s);
    memset(s, 0, sizeof(*s)); /* keep-alive: the same session serves the next request */
    s->method = lws_http_get_uri_and_method(wsi, &uri, &ulen);
    s->rlen = -1;
    if (s->method < 0 || s->method > LWSHUMETH_DELETE || s->method == LWSHUMETH_OPTIONS) {
        lws_return_http_status(wsi, HTTP_STATUS_METHOD_NOT_ALLOWED, NULL);
        return -1;
    }
    /* `in`: the whole path, /api/...: the control plane's is what follows. */
    const char *path = in ? in : "/";
    if (strncmp(path, "/api", 4) == 0)
        path += 4;
    snprintf(s->path, sizeof(s->path), "/%s", path + (path[0] == '/'));
    s->console = s->method == LWSHUMETH_POST && is_console_request(s->path);
    append_query(wsi, s->path, sizeof(s->path));
    if (lws_hdr_copy(wsi, s->auth, sizeof(s->auth), WSI_TOKEN_HTTP_AUTHORIZATION) < 0)
        s->auth[0] = '\0';
    if (lws_hdr_copy(wsi, s->ctype, sizeof(s->ctype), WSI_TOKEN_HTTP_CONTENT_TYPE) < 0)
        s->ctype[0] = '\0';
    char clen[32];
    if (s->method == LWSHUMETH_GET || s->method == LWSHUMETH_DELETE ||
        lws_hdr_copy(wsi, clen, sizeof(clen), WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0) {
        connect_upstream(wsi, s); /* a failure answers 502 */
        return 0;
    }
    /* The body first (LWS_CALLBACK_HTTP_BODY_COMPLETION), in the time
     * the control plane would give it: lws' own timeout only bounds the
     * pauses between its pieces. */
    arm(wsi, s, http_body_deadline_s(clen, API_PROXY_MAX_BODY), 1);
    return 0;
}

/* Once a second while a deadline runs.  Past it, the request ends: a body
 * still coming, with the connection (as the control plane's own server
 * does); no answer yet, with a 504.  Before it, lws' own timeouts (its
 * context's timeout_secs, 5 s, set again when the request has been sent
 * upstream) are kept past it on both connections while the answer is
 * awaited. */
static int tick(struct lws *wsi, proxied *s)
{
    if (s->deadline_us == 0 || s->done)
        return 0;
    const char *method = method_names[s->method];
    lws_usec_t left = s->deadline_us - lws_now_usecs();
    if (left <= 0 && s->awaiting_body) {
        log_warn("webui: %s %s: the request's body did not come within %u s (%zu bytes came): "
                 "closing the connection",
                 method, s->path, s->deadline_s, s->body_len);
        return -1;
    }
    if (left <= 0) {
        log_warn("webui: %s %s: the control plane did not answer within %u s (api-timeout)",
                 method, s->path, s->deadline_s);
        upstream_let_go(&s->up);
        answer_error(wsi, s, 504, "upstream_timeout", "the control plane did not answer within %u s",
                     s->deadline_s);
        return 0;
    }
    if (!s->awaiting_body) { /* whole seconds: lws_set_timeout_us is not exported by lws 4.1 */
        int secs = (int)((left + MARGIN_US + LWS_USEC_PER_SEC - 1) / LWS_USEC_PER_SEC);
        lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, secs);
        if (s->up)
            lws_set_timeout(s->up, PENDING_TIMEOUT_AWAITING_SERVER_RESPONSE, secs);
    }
    lws_set_timer_usecs(wsi, left < TICK_US ? left : TICK_US);
    return 0;
}

static int browser(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len)
{
    proxied *s = user;
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return begin(wsi, s, in);
    case LWS_CALLBACK_HTTP_BODY:
        return take_body(s, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (s->done)
            return 0;
        if (s->too_big) {
            answer_error(wsi, s, 413, "body_too_large",
                         "the request's body is larger than the dashboard passes on (8 MiB)");
            return 0;
        }
        connect_upstream(wsi, s);
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return browser_writable(wsi, s);
    case LWS_CALLBACK_TIMER:
        return tick(wsi, s);
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL: /* the transaction is over (keep-alive) */
    case LWS_CALLBACK_CLOSED_HTTP:
        if (s) {
            disarm(wsi, s);
            upstream_let_go(&s->up); /* the browser went first: so does the upstream request */
            free(s->body);
            s->body = NULL;
        }
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static int upstream_headers(struct lws *wsi, proxied *s, unsigned char **p, unsigned char *end)
{
    char n[32];
    if (s->auth[0] &&
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, (unsigned char *)s->auth,
                                     (int)strlen(s->auth), p, end))
        return -1;
    if (s->method == LWSHUMETH_GET || s->method == LWSHUMETH_DELETE)
        return 0;
    if (s->ctype[0] &&
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, (unsigned char *)s->ctype,
                                     (int)strlen(s->ctype), p, end))
        return -1;
    int k = snprintf(n, sizeof(n), "%zu", s->body_len);
    if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, (unsigned char *)n, k, p,
                                     end))
        return -1;
    if (s->body_len) {
        lws_client_http_body_pending(wsi, 1);
        lws_callback_on_writable(wsi);
    }
    return 0;
}

static void fail(proxied *s, struct lws *browser_wsi, const char *why)
{
    log_warn("webui: %s %s: the control plane: %s", method_names[s->method], s->path, why);
    if (!s->headers_sent) {
        answer_error(browser_wsi, s, 502, "upstream_unavailable", "%s", unreachable);
        return;
    }
    s->done = 1; /* the answer is cut short */
    lws_callback_on_writable(browser_wsi);
}

/* A console's answer, held whole: passed on with its proxy_path (or as
 * it came, when that cannot be done). */
static void add_proxy_path(struct lws *wsi, proxied *s)
{
    webui_context *w = lws_context_user(lws_get_context(wsi));
    size_t n = 0;
    char *json = console_routes_adopt(&w->routes, (const char *)s->buf + LWS_PRE, s->len,
                                      console_ticket_now_ms(), &n);
    if (json && n <= CHUNK) {
        memcpy(s->buf + LWS_PRE, json, n);
        s->len = n;
        s->rlen = (long long)n;
    }
    free(json);
    s->collect = 0;
}

/* Why the control plane's connection failed: lws' words (`in`), or why
 * its certificate was refused (tls_verify.h). */
static const char *failure(struct lws *wsi, const void *in)
{
    webui_context *w = lws_context_user(lws_get_context(wsi));
    return tls_verify_why(&w->tls_refused, wsi, in ? (const char *)in : "connection failed");
}

/* The connection's end, counted once (`counted`: its per-session flag). */
static void uncount(int *counted)
{
    if (counted && *counted) {
        *counted = 0;
        webui_metrics_api_connection(-1);
    }
}

/* An answer that has no body (a 204 or 304, or Content-Length: 0): once
 * its headers came, the connection closing ends it, not cuts it.  lws
 * reports a 204 without a Content-Length (libmicrohttpd sends none) as
 * complete only on a later event, and the control plane's close may come
 * first (under load, about one DELETE in forty through /api). */
static int bodiless(const proxied *s)
{
    return s->status == 204 || s->status == 304 || (s->status != 0 && s->rlen == 0);
}

static int upstream(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    proxied *s = lws_get_opaque_user_data(wsi);
    struct lws *parent = lws_get_parent(wsi);
    switch (reason) {
    case LWS_CALLBACK_WSI_DESTROY:
        uncount(user);
        return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        uncount(user);
        if (s && parent)
            fail(s, parent, failure(wsi, in));
        upstream_detach(wsi, s ? &s->up : NULL);
        return 0;
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
        return s ? upstream_headers(wsi, s, (unsigned char **)in, (unsigned char *)in + len) : -1;
    case LWS_CALLBACK_CLIENT_HTTP_WRITEABLE:
        if (s == NULL)
            return -1;
        lws_client_http_body_pending(wsi, 0);
        if (lws_write(wsi, s->body, s->body_len, LWS_WRITE_HTTP_FINAL) < (int)s->body_len)
            return -1;
        webui_metrics_api_bytes("to_control_plane", s->body_len);
        free(s->body); /* sent: lws keeps what the socket did not take */
        s->body = NULL;
        return 0;
    case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
        if (s == NULL)
            return -1;
        s->status = (int)lws_http_client_http_response(wsi);
        if (lws_hdr_copy(wsi, s->rtype, sizeof(s->rtype), WSI_TOKEN_HTTP_CONTENT_TYPE) < 0)
            s->rtype[0] = '\0';
        if (lws_hdr_copy(wsi, s->challenge, sizeof(s->challenge),
                         WSI_TOKEN_HTTP_WWW_AUTHENTICATE) < 0)
            s->challenge[0] = '\0';
        char clen[32] = "";
        s->rlen = lws_hdr_copy(wsi, clen, sizeof(clen), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0
                      ? atoll(clen)
                      : -1;
        lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0); /* as the browser's: send_headers() */
        disarm(parent, s);
        s->collect = s->console && s->status == 200;
        lws_callback_on_writable(parent);
        return 0;
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP: {
        if (s == NULL)
            return -1;
        if (s->len > 0 && !s->collect) { /* the browser has not taken the last chunk */
            lws_rx_flow_control(wsi, 0);
            return 0;
        }
        char buf[LWS_PRE + CHUNK], *px = buf + LWS_PRE;
        int lenx = CHUNK;
        return lws_http_client_read(wsi, &px, &lenx) < 0 ? -1 : 0;
    }
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
        if (s == NULL || s->len + len > CHUNK)
            return -1;
        memcpy(s->buf + LWS_PRE + s->len, in, len);
        s->len += len;
        webui_metrics_api_bytes("to_browser", len);
        if (s->collect)
            return 0;                /* the rest of it first */
        lws_rx_flow_control(wsi, 0); /* until the browser has it */
        lws_callback_on_writable(parent);
        return 0;
    case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
        if (s && s->collect)
            add_proxy_path(wsi, s);
        if (s) {
            s->done = 1;
            lws_callback_on_writable(parent);
        }
        upstream_detach(wsi, s ? &s->up : NULL);
        return 0;
    case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
        uncount(user);
        if (s && !s->done && parent && bodiless(s)) { /* answered whole: its headers were all */
            s->done = 1;
            lws_callback_on_writable(parent);
        } else if (s && !s->done && parent) {
            fail(s, parent, "closed the connection early");
        }
        upstream_detach(wsi, s ? &s->up : NULL);
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

const struct lws_protocols api_proxy_protocol = {"cumulus-api", browser, sizeof(proxied), 0, 0,
                                                 NULL,          0};
const struct lws_protocols api_upstream_protocol = {
    "cumulus-api-upstream", upstream, sizeof(int), 0, 0, NULL, 0};
