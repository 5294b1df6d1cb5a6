/* console_proxy.c: see console_proxy.h.
 *
 * The listener and the door: a websocket with the subprotocol "binary" is
 * admitted here (path, Origin, ticket) and its session handed to its
 * kind (console_session.h): console_vnc.c or console_serial.c.  Raw
 * protocols carry the VMs' sockets.  Everything runs on the proxy's one
 * service thread. */
#define _GNU_SOURCE
#include "console_proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cleanup.h"
#include "console_session.h"
#include "console_ticket.h"
#include "http_server.h"
#include "log.h"
#include "vm_proc.h"
#include "vm_spec.h"

console_proxy *console_proxy_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

/* ---- before the upgrade ---------------------------------------------- */

static const char *const kind_names[] = {[CONSOLE_VNC] = "vnc", [CONSOLE_SERIAL] = "serial"};

/* "/v1/vms/<id>/vnc" or ".../serial" -> id and kind; 0, or -1 if the path
 * is neither. */
static int parse_path(const char *uri, char *id, size_t len, console_kind *kind)
{
    static const char prefix[] = "/v1/vms/";
    size_t n = strlen(uri), p = sizeof(prefix) - 1;
    const char *slash = n > p && strncmp(uri, prefix, p) == 0 ? strchr(uri + p, '/') : NULL;
    if (slash == NULL || (size_t)(slash - uri - p) >= len)
        return -1;
    if (strcmp(slash + 1, "vnc") == 0)
        *kind = CONSOLE_VNC;
    else if (strcmp(slash + 1, "serial") == 0)
        *kind = CONSOLE_SERIAL;
    else
        return -1;
    memcpy(id, uri + p, (size_t)(slash - uri) - p);
    id[slash - uri - p] = '\0';
    return vm_id_check("id", id, NULL) == 0 ? 0 : -1;
}

static int origin_allowed(const console_proxy *p, const char *origin)
{
    for (size_t i = 0; i < p->norigins; i++)
        if (strcmp(p->origins[i], origin) == 0)
            return 1;
    return 0;
}

int console_connect_vm_socket(const agent *a, const char *id, const char *name)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char path[PATH_MAX];
    vm_path(a, id, name, path, sizeof(path));
    if (strlen(path) >= sizeof(sa.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* The ticket in the query is good for this VM and kind: 0, or -1 (err). */
static int check_ticket(struct lws *wsi, console_proxy *p, const console_session *s,
                        cu_error **err)
{
    char buf[CONSOLE_TICKET_MAX + 16];
    unsigned char key[CONSOLE_TICKET_KEY_LEN];
    pthread_mutex_lock(&p->a->cred_lock);
    int joined = p->a->order_token[0] != '\0';
    if (joined)
        console_ticket_key(p->a->order_token, key);
    pthread_mutex_unlock(&p->a->cred_lock);
    if (!joined)
        return cu_error_set(err, 503, "console_unavailable", NULL,
                            "this host has not joined yet");
    const char *ticket = lws_get_urlarg_by_name(wsi, "ticket=", buf, sizeof(buf));
    return console_ticket_check(key, sizeof(key), ticket, s->vm_id, kind_names[s->kind],
                                console_ticket_now_ms(), &p->seen, err);
}

/* 0 to upgrade (the VM's side is ready), 1 to refuse (logged). */
static int admit(struct lws *wsi, console_session *s)
{
    console_proxy *p = console_proxy_of(wsi);
    char uri[256] = "", origin[256] = "", peer[128] = "?";
    lws_get_peer_simple(wsi, peer, sizeof(peer));
    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 ||
        parse_path(uri, s->vm_id, sizeof(s->vm_id), &s->kind) < 0) {
        log_warn("console: refused %s: '%s' is not /v1/vms/{id}/vnc or /v1/vms/{id}/serial",
                 peer, uri);
        return 1;
    }
    const char *kind = kind_names[s->kind];
    if (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) > 0 &&
        !origin_allowed(p, origin)) {
        log_warn("console: refused %s for the %s of VM %s: origin '%s' is not allowed "
                 "(--console-origins)",
                 peer, kind, s->vm_id, origin);
        return 1;
    }
    _cleanup_error_ cu_error *err = NULL;
    if (check_ticket(wsi, p, s, &err) < 0) {
        log_warn("console: refused %s for the %s of VM %s: %s", peer, kind, s->vm_id,
                 err->message);
        return 1;
    }
    int ok;
    if (s->kind == CONSOLE_SERIAL)
        ok = console_serial_admit(p, s) == 0;
    else if ((ok = (s->vm_fd = console_connect_vm_socket(p->a, s->vm_id, "vnc.sock")) >= 0))
        s->has_fd = 1;
    if (!ok) {
        log_warn("console: refused %s for the %s of VM %s: %s (is it running?)", peer, kind,
                 s->vm_id, strerror(errno));
        return 1;
    }
    s->wsi = wsi;
    log_info("console: %s opened the %s of VM %s", peer, kind, s->vm_id);
    return 0;
}

/* ---- shared by both kinds --------------------------------------------- */

int console_take_from_viewer(struct lws *wsi, console_session *s, const void *in, size_t len)
{
    if (s->up_len + len > 2 * CONSOLE_CHUNK) {
        log_error("console: VM %s: a viewer overran its buffer", s->vm_id);
        return -1;
    }
    memcpy(s->up + LWS_PRE + s->up_len, in, len);
    s->up_len += len;
    lws_rx_flow_control(wsi, 0); /* until the VM's side has taken it */
    return 0;
}

int console_alloc_down(console_session *s, size_t cap)
{
    if ((s->down = malloc(LWS_PRE + cap)) == NULL) {
        log_error("console: VM %s: out of memory for a viewer", s->vm_id);
        return -1;
    }
    s->down_cap = cap;
    return 0;
}

int console_close_viewer(struct lws *wsi, const char *why)
{
    lws_close_reason(wsi, LWS_CLOSE_STATUS_GOINGAWAY, (unsigned char *)why, strlen(why));
    return -1;
}

static int by_kind(struct lws *wsi, enum lws_callback_reasons reason, console_session *s,
                   void *in, size_t len)
{
    return s->kind == CONSOLE_SERIAL ? console_serial_viewer(wsi, reason, s, in, len)
                                     : console_vnc_viewer(wsi, reason, s, in, len);
}

static int viewer(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len)
{
    console_session *s = user;
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return admit(wsi, s);
    case LWS_CALLBACK_CLOSED: { /* an established session ends */
        log_info("console: a viewer of the %s of VM %s left", kind_names[s->kind], s->vm_id);
        int rc = by_kind(wsi, reason, s, in, len);
        free(s->down);
        s->down = NULL;
        if (s->has_log)
            close(s->log_fd);
        s->has_log = 0;
        return rc;
    }
    case LWS_CALLBACK_WSI_DESTROY: /* refused, or failed before the VM's side was adopted */
        if (s && s->has_fd)
            close(s->vm_fd);
        if (s && s->has_log)
            close(s->log_fd);
        if (s)
            s->has_fd = s->has_log = 0;
        return 0;
    default:
        return s ? by_kind(wsi, reason, s, in, len) : 0;
    }
}

/* Anything but a websocket upgrade: 404. */
static int plain_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                      size_t len)
{
    (void)user, (void)in, (void)len;
    if (reason == LWS_CALLBACK_HTTP) {
        lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND,
                               "consoles are websockets: GET /v1/vms/{id}/vnc?ticket=T (or "
                               "/serial) with the subprotocol 'binary'");
        return -1;
    }
    if (reason == LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION)
        return 1; /* a websocket without the subprotocol "binary" */
    return 0;
}

static const struct lws_protocols protocols[] = {
    {"http", plain_http, 0, 0, 0, NULL, 0},
    {"binary", viewer, sizeof(console_session), CONSOLE_CHUNK, 0, NULL, 0},
    {"cumulus-vnc-socket", console_vnc_socket, 0, CONSOLE_VNC_CHUNK, 0, NULL, 0},
    {"cumulus-serial-socket", console_serial_socket, 0, CONSOLE_CHUNK, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}};

/* ---- the service thread ----------------------------------------------- */

static void lws_log(int level, const char *line)
{
    char msg[512];
    snprintf(msg, sizeof(msg), "%s", line);
    msg[strcspn(msg, "\n")] = '\0';
    if (level & LLL_ERR)
        log_error("console (libwebsockets): %s", msg);
    else
        log_warn("console (libwebsockets): %s", msg);
}

static void *serve(void *arg)
{
    console_proxy *p = arg;
    while (!atomic_load(&p->stop))
        if (lws_service(p->ctx, 0) < 0)
            break;
    return NULL;
}

static int parse_origins(console_proxy *p, const char *origins, cu_error **err)
{
    if (origins == NULL)
        return 0;
    _cleanup_free_ char *copy = strdup(origins);
    char *save = NULL;
    for (char *o = strtok_r(copy, ", ", &save); o; o = strtok_r(NULL, ", ", &save)) {
        if (p->norigins == CONSOLE_MAX_ORIGINS)
            return cu_error_set(err, 400, CU_E_CONFIG, NULL,
                                "console-origins: at most %d origins", CONSOLE_MAX_ORIGINS);
        p->origins[p->norigins++] = strdup(o);
    }
    return 0;
}

static void proxy_free(console_proxy *p)
{
    if (p->ctx)
        lws_context_destroy(p->ctx);
    console_serial_forget_lines(p);
    for (size_t i = 0; i < p->norigins; i++)
        free(p->origins[i]);
    console_ticket_seen_destroy(&p->seen);
    free(p);
}

console_proxy *console_proxy_start(agent *a, const char *listen, const char *origins,
                                   const cu_tls *tls, cu_error **err)
{
    char host[256];
    unsigned port;
    if (http_parse_listen(listen, host, sizeof(host), &port, err) < 0)
        return NULL;
    console_proxy *p = calloc(1, sizeof(*p));
    if (p == NULL)
        abort();
    p->a = a;
    console_ticket_seen_init(&p->seen);
    if (parse_origins(p, origins, err) < 0) {
        proxy_free(p);
        return NULL;
    }
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
    struct lws_context_creation_info info = {0};
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_DISABLE_IPV6 |
                   LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;
    info.user = p;
    info.gid = (gid_t)-1;
    info.uid = (uid_t)-1;
    info.port = (int)port;
    info.iface = host;
    info.protocols = protocols;
    /* lws reads a raw socket into this per-thread buffer: no bigger read
     * than it, whatever the protocol's rx_buffer_size (default 4 KiB). */
    info.pt_serv_buf_size = CONSOLE_VNC_CHUNK;
    if (cu_tls_on(tls)) { /* the files were checked at start (tls.h) */
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = tls->cert_file;
        info.ssl_private_key_filepath = tls->key_file;
    }
    if ((p->ctx = lws_create_context(&info)) == NULL ||
        (p->vh = lws_create_vhost(p->ctx, &info)) == NULL) {
        proxy_free(p);
        cu_error_set(err, 500, CU_E_CONFIG, NULL, "cannot listen for consoles on '%s'", listen);
        return NULL;
    }
    p->port = (unsigned)lws_get_vhost_listen_port(p->vh);
    if (pthread_create(&p->thread, NULL, serve, p) != 0) {
        proxy_free(p);
        cu_error_set(err, 500, CU_E_INTERNAL, NULL, "cannot start the console thread");
        return NULL;
    }
    log_info("consoles: websockets on %s://%s:%u/v1/vms/{id}/vnc and /serial",
             cu_tls_scheme(tls, 1), host, p->port);
    return p;
}

unsigned console_proxy_port(const console_proxy *p)
{
    return p->port;
}

void console_proxy_stop(console_proxy *p)
{
    if (p == NULL)
        return;
    atomic_store(&p->stop, 1);
    lws_cancel_service(p->ctx);
    pthread_join(p->thread, NULL);
    proxy_free(p);
}
