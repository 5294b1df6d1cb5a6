/* files_protocol.c: see files_protocol.h.
 *
 * A files request under way is marked on its connection with the
 * connection's opaque user data (no other protocol uses it on the
 * browser's connections), not in per-session data: lws binds the first
 * protocol afresh between the requests of a keep-alive connection, and a
 * 304 it sent itself would be forgotten with the old session data. */
#define _GNU_SOURCE
#include "files_protocol.h"

#include <string.h>

#include "tls_verify.h"
#include "webui_context.h"
#include "webui_metrics.h"

static char pending; /* its address marks a connection */

/* `uri` is under `mount` ("/api": "/api" and "/api/...", as lws matches). */
static int under(const char *uri, const char *mount)
{
    size_t n = strlen(mount);
    return strncmp(uri, mount, n) == 0 && (uri[n] == '\0' || uri[n] == '/');
}

void files_protocol_settle(struct lws *wsi)
{
    if (lws_get_opaque_user_data(wsi) != &pending)
        return;
    lws_set_opaque_user_data(wsi, NULL);
    webui_metrics_request("files", 304); /* answered by lws itself: see files_protocol.h */
}

static void answered(struct lws *wsi, int status)
{
    if (lws_get_opaque_user_data(wsi) == &pending)
        lws_set_opaque_user_data(wsi, NULL);
    webui_metrics_request("files", status);
}

/* LWS_CALLBACK_FILTER_HTTP_CONNECTION: a request on a connection bound to
 * this protocol, before lws picks its mount.  Only those the "/" mount
 * serves are ours. */
static void request_begins(struct lws *wsi, const char *uri)
{
    files_protocol_settle(wsi);
    if (uri && !under(uri, "/api") && !under(uri, "/metrics") &&
        lws_hdr_total_length(wsi, WSI_TOKEN_UPGRADE) == 0)
        lws_set_opaque_user_data(wsi, &pending);
}

static int files(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                 size_t len)
{
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return 1;
    case LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION: { /* user: the X509_STORE_CTX */
        webui_context *w = lws_context_user(lws_get_context(wsi));
        return tls_verify_note(&w->tls_refused, wsi, user, (int)len);
    }
    case LWS_CALLBACK_FILTER_HTTP_CONNECTION:
        request_begins(wsi, in);
        break;
    case LWS_CALLBACK_HTTP_FILE_COMPLETION:
        answered(wsi, 200);
        break;
    case LWS_CALLBACK_HTTP: /* no such file: lws' dummy answers 404 */
        answered(wsi, 404);
        break;
    case LWS_CALLBACK_CLOSED_HTTP:
        files_protocol_settle(wsi);
        break;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

const struct lws_protocols files_protocol = {"http", files, 0, 0, 0, NULL, 0};
