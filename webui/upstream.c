/* upstream.c: see upstream.h. */
#include "upstream.h"

#include "webui_context.h"

struct lws *upstream_connect(struct lws *parent, const char *protocol, const char *method,
                             const char *path, void *session, struct lws **slot)
{
    const api_upstream *up = &((webui_context *)lws_context_user(lws_get_context(parent)))->api;
    struct lws_client_connect_info i = {0};
    i.context = lws_get_context(parent);
    i.address = up->host;
    i.port = up->port;
    i.path = path;
    i.host = up->host;
    i.origin = up->host;
    i.method = method;
    i.protocol = protocol;
    i.local_protocol_name = protocol;
    i.parent_wsi = parent;
    i.opaque_user_data = session;
    i.alpn = "http/1.1";
    /* Verified: chain to tls-ca (the vhost's client CA) and the host name. */
    i.ssl_connection = up->tls ? LCCSCF_USE_SSL : 0;
    i.pwsi = slot;
    struct lws *wsi = lws_client_connect_via_info(&i);
    if (wsi == NULL)
        *slot = NULL;
    return wsi;
}

void upstream_let_go(struct lws **slot)
{
    if (*slot == NULL)
        return;
    lws_set_opaque_user_data(*slot, NULL);
    lws_set_timeout(*slot, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
    *slot = NULL;
}

void upstream_detach(struct lws *up, struct lws **slot)
{
    lws_set_opaque_user_data(up, NULL);
    if (slot && *slot == up)
        *slot = NULL;
}
