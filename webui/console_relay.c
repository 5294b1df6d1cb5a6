/* console_relay.c: see console_relay.h.
 *
 * The browser's websocket is a server connection of protocol "binary"; its
 * per-session data (relay) holds both directions' buffers.  The agent's
 * websocket is a client connection whose parent is the browser's; its
 * opaque user data points to the session and is cleared when the browser
 * goes, so nothing reaches a freed session. */
#define _GNU_SOURCE
#include "console_relay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "files_protocol.h"
#include "log.h"
#include "webui_context.h"
#include "webui_metrics.h"

/* Room for two reads in flight and one more (lws may hand over what it had
 * read before the flow stopped). */
#define BUF_CAP (3 * CONSOLE_RELAY_CHUNK)

typedef struct relay {
    struct lws *agent; /* the agent's websocket, once asked for */
    int agent_open;    /* it completed its handshake */
    int agent_gone;    /* it failed or closed: the browser is closed once drained */
    int counted;       /* counted as open (webui_metrics.h) until CLOSED */
    char why[160];     /* what to tell the browser then */
    console_route route;
    char peer[64];
    unsigned char *down; /* agent -> browser */
    size_t down_len;
    unsigned char *up; /* browser -> agent */
    size_t up_len;
} relay;

static webui_context *context_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

/* The Origin, when there is one, must be this host's: the dashboard's own
 * pages (http, or https behind a TLS proxy). */
static int origin_ok(struct lws *wsi)
{
    char origin[300], host[256], want[300];
    if (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) <= 0)
        return 1;
    if (lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST) <= 0)
        return 0;
    snprintf(want, sizeof(want), "http://%s", host);
    if (strcmp(origin, want) == 0)
        return 1;
    snprintf(want, sizeof(want), "https://%s", host);
    return strcmp(origin, want) == 0;
}

/* 0 to upgrade, 1 to refuse (logged). */
static int admit(struct lws *wsi, relay *r)
{
    char uri[300] = "", buf[CONSOLE_TICKET_MAX + 16];
    memset(r, 0, sizeof(*r));
    files_protocol_settle(wsi); /* a file before this on the connection */
    lws_get_peer_simple(wsi, r->peer, sizeof(r->peer));
    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0) {
        log_warn("webui: console: refused %s: no path", r->peer);
        webui_metrics_console_refused("ticket");
        return 1;
    }
    if (!origin_ok(wsi)) {
        log_warn("webui: console: refused %s for %s: its Origin is not this dashboard's", r->peer,
                 uri);
        webui_metrics_console_refused("origin");
        return 1;
    }
    const char *ticket = lws_get_urlarg_by_name(wsi, "ticket=", buf, sizeof(buf));
    if (console_routes_take(&context_of(wsi)->routes, uri, ticket, console_ticket_now_ms(),
                            &r->route) < 0) {
        log_warn("webui: console: refused %s for %s: no console was asked for through this "
                 "dashboard with that ticket (POST /api/v1/vms/{id}/console), or it was used or "
                 "expired",
                 r->peer, uri);
        webui_metrics_console_refused("ticket");
        return 1;
    }
    return 0;
}

static int connect_agent(struct lws *wsi, relay *r)
{
    char path[512];
    snprintf(path, sizeof(path), "%s?ticket=%s", r->route.path, r->route.ticket);
    struct lws_client_connect_info i = {0};
    i.context = lws_get_context(wsi);
    i.address = r->route.host;
    i.port = r->route.port;
    i.path = path;
    i.host = r->route.host;
    i.protocol = "binary"; /* the subprotocol asked of the agent */
    i.local_protocol_name = console_upstream_protocol.name;
    i.parent_wsi = wsi;
    i.opaque_user_data = r;
    i.pwsi = &r->agent;
    /* wss://: verified with tls-ca (the vhost's client CA) and the host name. */
    i.ssl_connection = r->route.tls ? LCCSCF_USE_SSL : 0;
    if (lws_client_connect_via_info(&i) == NULL) {
        r->agent = NULL;
        log_warn("webui: console: %s for %s: cannot connect to its host %s:%d", r->peer,
                 r->route.path, r->route.host, r->route.port);
        webui_metrics_console_refused("host");
        return -1;
    }
    return 0;
}

/* Appends to a direction's buffer: 0, or -1 when it would overrun. */
static int append(unsigned char *buf, size_t *len, const void *in, size_t n)
{
    if (*len + n > BUF_CAP)
        return -1;
    memcpy(buf + LWS_PRE + *len, in, n);
    *len += n;
    return 0;
}

static int close_browser(struct lws *wsi, relay *r)
{
    const char *why = r->why[0] ? r->why : "the console closed";
    lws_close_reason(wsi, LWS_CLOSE_STATUS_GOINGAWAY, (unsigned char *)why, strlen(why));
    return -1;
}

static int browser(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len)
{
    relay *r = user;
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return admit(wsi, r);
    case LWS_CALLBACK_ESTABLISHED:
        r->down = malloc(LWS_PRE + BUF_CAP);
        r->up = malloc(LWS_PRE + BUF_CAP);
        if (r->down == NULL || r->up == NULL || connect_agent(wsi, r) < 0)
            return -1;
        lws_rx_flow_control(wsi, 0); /* until the agent's side is open */
        r->counted = 1;
        webui_metrics_console_connection(r->route.path, 1);
        log_info("webui: console: %s opened %s on %s:%d", r->peer, r->route.path, r->route.host,
                 r->route.port);
        return 0;
    case LWS_CALLBACK_RECEIVE:
        if (append(r->up, &r->up_len, in, len) < 0)
            return -1;
        webui_metrics_console_bytes(r->route.path, "to_host", len);
        if (BUF_CAP - r->up_len < 2 * CONSOLE_RELAY_CHUNK)
            lws_rx_flow_control(wsi, 0); /* until the agent took it */
        if (r->agent && r->agent_open)
            lws_callback_on_writable(r->agent);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (r->down_len > 0) {
            if (lws_write(wsi, r->down + LWS_PRE, r->down_len, LWS_WRITE_BINARY) < (int)r->down_len)
                return -1;
            r->down_len = 0;
            if (r->agent)
                lws_rx_flow_control(r->agent, 1);
        }
        return r->agent_gone ? close_browser(wsi, r) : 0;
    case LWS_CALLBACK_CLOSED:
        if (r->agent) { /* the browser went first: so does the agent's side */
            lws_set_opaque_user_data(r->agent, NULL);
            lws_set_timeout(r->agent, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
            r->agent = NULL;
        }
        log_info("webui: console: %s left %s", r->peer, r->route.path);
        if (r->counted) {
            r->counted = 0;
            webui_metrics_console_connection(r->route.path, -1);
        }
        /* fall through */
    case LWS_CALLBACK_WSI_DESTROY:
        if (r) {
            free(r->down);
            free(r->up);
            r->down = r->up = NULL;
        }
        return 0;
    default:
        return 0;
    }
}

/* The agent's side has failed or closed: the browser gets what is left,
 * then a close with `why`. */
static void agent_gone(struct lws *wsi, relay *r, const char *why)
{
    lws_set_opaque_user_data(wsi, NULL);
    if (r == NULL)
        return;
    r->agent = NULL;
    r->agent_gone = 1;
    if (why && !r->why[0])
        snprintf(r->why, sizeof(r->why), "%s", why);
    lws_callback_on_writable(lws_get_parent(wsi));
}

static int agent(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                 size_t len)
{
    (void)user;
    relay *r = lws_get_opaque_user_data(wsi);
    struct lws *parent = lws_get_parent(wsi);
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
        const char *lws_why = in ? (const char *)in : "connection failed";
        const char *why = tls_verify_why(&context_of(wsi)->tls_refused, wsi, lws_why);
        if (r)
            log_warn("webui: console: %s for %s: its host %s:%d refused or failed: %s", r->peer,
                     r->route.path, r->route.host, r->route.port, why);
        webui_metrics_console_refused("host");
        /* A close reason has room for 123 bytes. */
        agent_gone(wsi, r,
                   why != lws_why
                       ? "the VM's host could not be verified: its certificate was refused (see "
                         "the dashboard's log)"
                       : "the VM's host refused the console: the ticket was used or expired, or "
                         "the VM is not running");
        return 0;
    }
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (r == NULL)
            return -1;
        r->agent_open = 1;
        lws_rx_flow_control(parent, 1);
        if (r->up_len > 0)
            lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (r == NULL || append(r->down, &r->down_len, in, len) < 0)
            return -1;
        webui_metrics_console_bytes(r->route.path, "to_browser", len);
        if (BUF_CAP - r->down_len < 2 * CONSOLE_RELAY_CHUNK)
            lws_rx_flow_control(wsi, 0); /* until the browser took it */
        lws_callback_on_writable(parent);
        return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (r == NULL)
            return -1;
        if (r->up_len > 0) {
            if (lws_write(wsi, r->up + LWS_PRE, r->up_len, LWS_WRITE_BINARY) < (int)r->up_len)
                return -1;
            r->up_len = 0;
            lws_rx_flow_control(parent, 1);
        }
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
        agent_gone(wsi, r, "the VM's console closed (the VM stopped?)");
        return 0;
    default:
        return 0;
    }
}

const struct lws_protocols console_relay_protocol = {
    "binary", browser, sizeof(relay), CONSOLE_RELAY_CHUNK, 0, NULL, 0};
const struct lws_protocols console_upstream_protocol = {
    "cumulus-console-upstream", agent, 0, CONSOLE_RELAY_CHUNK, 0, NULL, 0};
