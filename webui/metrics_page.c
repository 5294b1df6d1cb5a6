/* metrics_page.c: see metrics_page.h.
 *
 * The scrape is a server connection of protocol "cumulus-metrics"; its
 * per-session data (scrape) holds the answer being written.  The question
 * to the control plane is a client connection whose parent is the
 * scrape's; its opaque user data points to the session, cleared when
 * either side goes (upstream.h, as api_proxy.c's). */
#define _GNU_SOURCE
#include "metrics_page.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console_ticket.h"
#include "files_protocol.h"
#include "log.h"
#include "metrics.h"
#include "upstream.h"
#include "webui_context.h"
#include "webui_metrics.h"

#define CHUNK (16 * 1024)
#define ASK_PATH "/v1/sizes?limit=1"

typedef struct scrape {
    struct lws *up;   /* the question to the control plane, while asked */
    char auth[1024];  /* the scrape's Authorization header */
    int status;       /* the answer's status; 0 while undecided */
    char *body;       /* its body (malloc'd) */
    const char *type; /* its Content-Type */
    size_t len, sent; /* body bytes, and how many are written */
    int headers_sent;
    unsigned char buf[LWS_PRE + CHUNK];
} scrape;

/* ---- the cache of yeses ---------------------------------------------- */

static void token_hash(const char *token, unsigned char out[32])
{
    SHA256((const unsigned char *)token, strlen(token), out);
}

int metrics_auth_cached(const metrics_auth_cache *c, const char *token, long long now_ms)
{
    unsigned char h[32];
    token_hash(token, h);
    for (size_t i = 0; i < METRICS_AUTH_SLOTS; i++)
        if (c->until_ms[i] > now_ms && memcmp(c->hash[i], h, sizeof(h)) == 0)
            return 1;
    return 0;
}

void metrics_auth_remember(metrics_auth_cache *c, const char *token, long long now_ms)
{
    unsigned char h[32];
    token_hash(token, h);
    size_t slot = 0;
    for (size_t i = 0; i < METRICS_AUTH_SLOTS; i++) {
        if (memcmp(c->hash[i], h, sizeof(h)) == 0) { /* the same token: renewed */
            slot = i;
            break;
        }
        if (c->until_ms[i] < c->until_ms[slot])
            slot = i;
    }
    memcpy(c->hash[slot], h, sizeof(h));
    c->until_ms[slot] = now_ms + METRICS_AUTH_TTL_MS;
}

/* ---- the answer ------------------------------------------------------ */

static webui_context *context_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

/* Decides the answer: `body` taken (malloc'd), or a JSON error made. */
static void decide(struct lws *wsi, scrape *s, int status, char *body, const char *type)
{
    s->status = status;
    s->body = body;
    s->type = type;
    s->len = body ? strlen(body) : 0;
    lws_callback_on_writable(wsi);
}

static void decide_error(struct lws *wsi, scrape *s, int status, const char *code,
                         const char *message)
{
    char *json = NULL;
    if (asprintf(&json, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, message) < 0)
        json = NULL;
    decide(wsi, s, status, json, "application/json");
}

static void decide_metrics(struct lws *wsi, scrape *s)
{
    decide(wsi, s, 200, webui_metrics_render(), METRICS_CONTENT_TYPE);
}

static int send_headers(struct lws *wsi, scrape *s)
{
    unsigned char head[LWS_PRE + 1024], *start = head + LWS_PRE, *p = start,
                                        *end = head + sizeof(head) - 1;
    if (lws_add_http_common_headers(wsi, (unsigned)s->status, s->type, (lws_filepos_t)s->len, &p,
                                    end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                     (const unsigned char *)"no-store", 8, &p, end) ||
        (s->status == 401 &&
         lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_WWW_AUTHENTICATE,
                                      (const unsigned char *)"Bearer", 6, &p, end)) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    s->headers_sent = 1;
    webui_metrics_request("metrics", s->status);
    return 0;
}

static int writable(struct lws *wsi, scrape *s)
{
    if (s->status == 0)
        return 0; /* the control plane has not answered yet */
    if (!s->headers_sent) {
        if (send_headers(wsi, s) < 0)
            return -1;
        lws_callback_on_writable(wsi);
        return 0;
    }
    size_t n = s->len - s->sent < CHUNK ? s->len - s->sent : CHUNK;
    int last = s->sent + n == s->len;
    if (n)
        memcpy(s->buf + LWS_PRE, s->body + s->sent, n);
    if (lws_write(wsi, s->buf + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < (int)n)
        return -1;
    s->sent += n;
    if (last)
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    lws_callback_on_writable(wsi);
    return 0;
}

/* ---- asking the control plane ----------------------------------------- */

static void ask(struct lws *wsi, scrape *s)
{
    if (upstream_connect(wsi, metrics_auth_protocol.name, "GET", ASK_PATH, s, &s->up) == NULL) {
        const api_upstream *up = &context_of(wsi)->api;
        log_warn("webui: GET /metrics: cannot ask the control plane whether the token is an "
                 "admin's: cannot connect to %s:%d",
                 up->host, up->port);
        decide_error(wsi, s, 502, "upstream_unavailable",
                     "the control plane cannot be reached to check the token");
    }
}

/* "Bearer T" -> T, or NULL. */
static const char *bearer(const char *auth)
{
    if (strncasecmp(auth, "Bearer ", 7) != 0)
        return NULL;
    auth += 7;
    while (*auth == ' ')
        auth++;
    return *auth ? auth : NULL;
}

/* The mount's path is /metrics and nothing below it: `in` is the path,
 * whole or after the mount point. */
static int is_metrics_path(const char *in)
{
    if (in == NULL)
        return 1;
    if (strncmp(in, "/metrics", 8) == 0)
        in += 8;
    return in[0] == '\0' || strcmp(in, "/") == 0;
}

static int begin(struct lws *wsi, scrape *s, const char *in)
{
    char *uri = NULL;
    int ulen = 0;
    files_protocol_settle(wsi); /* a file before this on the connection */
    upstream_let_go(&s->up);    /* a question for a scrape before this one on the connection */
    free(s->body);
    memset(s, 0, sizeof(*s)); /* keep-alive: the same session serves the next request */
    if (!is_metrics_path(in)) {
        decide_error(wsi, s, 404, "not_found", "the figures are at /metrics");
        return 0;
    }
    if (lws_http_get_uri_and_method(wsi, &uri, &ulen) != LWSHUMETH_GET) {
        decide_error(wsi, s, 405, "method_not_allowed", "only GET /metrics is served");
        return 0;
    }
    if (lws_hdr_copy(wsi, s->auth, sizeof(s->auth), WSI_TOKEN_HTTP_AUTHORIZATION) < 0)
        s->auth[0] = '\0';
    const char *token = bearer(s->auth);
    if (token == NULL)
        decide_error(wsi, s, 401, "unauthorized",
                     "GET /metrics needs the control plane's admin token "
                     "(Authorization: Bearer ...)");
    else if (metrics_auth_cached(&context_of(wsi)->metrics_auth, token, console_ticket_now_ms()))
        decide_metrics(wsi, s);
    else
        ask(wsi, s);
    return 0;
}

static int page(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    scrape *s = user;
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return begin(wsi, s, in);
    case LWS_CALLBACK_HTTP_BODY: /* a request's body (refused with a 405): dropped */
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return writable(wsi, s);
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    case LWS_CALLBACK_CLOSED_HTTP:
        if (s) {
            upstream_let_go(&s->up); /* the scraper went first */
            free(s->body);
            s->body = NULL;
        }
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

/* The control plane's status for the token -> the scrape's answer. */
static void answered(struct lws *parent, scrape *s, int status)
{
    const char *token = bearer(s->auth);
    if (status == 200 && token) {
        metrics_auth_remember(&context_of(parent)->metrics_auth, token, console_ticket_now_ms());
        decide_metrics(parent, s);
    } else if (status == 401 || status == 403) {
        decide_error(parent, s, status, status == 401 ? "unauthorized" : "forbidden",
                     "GET /metrics needs the control plane's admin token");
    } else {
        log_warn("webui: GET /metrics: the control plane answered %d to GET " ASK_PATH
                 " (checking the token)",
                 status);
        decide_error(parent, s, 502, "upstream_unavailable",
                     "the control plane could not check the token");
    }
}

static int auth_client(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
    scrape *s = lws_get_opaque_user_data(wsi);
    struct lws *parent = lws_get_parent(wsi);
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        log_warn("webui: GET /metrics: cannot ask the control plane whether the token is an "
                 "admin's: %s",
                 tls_verify_why(&context_of(wsi)->tls_refused, wsi,
                                in ? (const char *)in : "connection failed"));
        if (s && parent && s->status == 0)
            decide_error(parent, s, 502, "upstream_unavailable",
                         "the control plane cannot be reached to check the token");
        upstream_detach(wsi, s ? &s->up : NULL);
        return 0;
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        unsigned char **p = (unsigned char **)in, *end = (unsigned char *)in + len;
        if (s == NULL)
            return -1;
        return lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
                                            (unsigned char *)s->auth, (int)strlen(s->auth), p, end)
                   ? -1
                   : 0;
    }
    case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
        if (s == NULL || parent == NULL)
            return -1;
        answered(parent, s, (int)lws_http_client_http_response(wsi));
        return 0;
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP: { /* the body: read and dropped */
        char buf[LWS_PRE + 4096], *px = buf + LWS_PRE;
        int lenx = (int)sizeof(buf) - LWS_PRE;
        return lws_http_client_read(wsi, &px, &lenx) < 0 ? -1 : 0;
    }
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
        return 0;
    case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
        upstream_detach(wsi, s ? &s->up : NULL);
        return -1; /* done with it */
    case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
        if (s && parent && s->status == 0)
            decide_error(parent, s, 502, "upstream_unavailable",
                         "the control plane closed the connection before answering");
        upstream_detach(wsi, s ? &s->up : NULL);
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

const struct lws_protocols metrics_page_protocol = {
    "cumulus-metrics", page, sizeof(scrape), 0, 0, NULL, 0};
const struct lws_protocols metrics_auth_protocol = {
    "cumulus-metrics-auth", auth_client, 0, 0, 0, NULL, 0};
