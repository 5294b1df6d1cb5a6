/* console_proxy.c: see console_proxy.h.
 *
 * Two libwebsockets protocols: "binary", the viewer's websocket (its
 * per-session data is the session, with one buffer each way), and
 * "cumulus-vm-socket", the VM's VNC socket adopted as a raw child of that
 * websocket (its opaque user data points back to the session; the
 * session clears it when the websocket goes, so the child never reaches a
 * freed session).  Everything runs on the proxy's one service thread. */
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
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "console_ticket.h"
#include "http_server.h"
#include "log.h"
#include "vm_proc.h"
#include "vm_spec.h"

#define CHUNK (16 * 1024) /* the most read from either side at once */
#define MAX_ORIGINS 16

struct console_proxy {
    agent *a;
    struct lws_context *ctx;
    struct lws_vhost *vh;
    pthread_t thread;
    atomic_int stop;
    unsigned port;
    size_t norigins;
    char *origins[MAX_ORIGINS];
    console_ticket_seen seen;
};

typedef struct session {
    struct lws *vm;  /* the VM's socket, once adopted */
    int vm_fd;       /* connected before the upgrade, until adopted */
    int has_fd;      /* vm_fd is ours to close (zeroed memory must not mean fd 0) */
    int vm_gone;     /* the VM's side closed: close the websocket once drained */
    size_t down_len; /* bytes from the VM for the viewer */
    size_t up_len;   /* bytes from the viewer for the VM */
    unsigned char down[LWS_PRE + 2 * CHUNK];
    unsigned char up[LWS_PRE + 2 * CHUNK];
    char vm_id[64];
} session;

static console_proxy *proxy_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- before the upgrade ---------------------------------------------- */

/* "/v1/vms/<id>/vnc" -> id; 0, or -1 if the path is not that. */
static int vm_of_path(const char *uri, char *id, size_t len)
{
    static const char prefix[] = "/v1/vms/", suffix[] = "/vnc";
    size_t n = strlen(uri), p = sizeof(prefix) - 1, s = sizeof(suffix) - 1;
    if (n <= p + s || strncmp(uri, prefix, p) != 0 || strcmp(uri + n - s, suffix) != 0 ||
        n - p - s >= len)
        return -1;
    memcpy(id, uri + p, n - p - s);
    id[n - p - s] = '\0';
    return vm_id_check("id", id, NULL) == 0 ? 0 : -1;
}

static int origin_allowed(const console_proxy *p, const char *origin)
{
    for (size_t i = 0; i < p->norigins; i++)
        if (strcmp(p->origins[i], origin) == 0)
            return 1;
    return 0;
}

/* A connected socket to the VM's VNC server, or -1 (errno set). */
static int connect_vnc(const agent *a, const char *id)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char path[PATH_MAX];
    vm_path(a, id, "vnc.sock", path, sizeof(path));
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

/* 0 to upgrade (s->vm_fd connected), 1 to refuse (logged). */
static int admit(struct lws *wsi, session *s)
{
    console_proxy *p = proxy_of(wsi);
    char uri[256] = "", origin[256] = "", peer[128] = "?", buf[CONSOLE_TICKET_MAX + 16];
    lws_get_peer_simple(wsi, peer, sizeof(peer));
    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 ||
        vm_of_path(uri, s->vm_id, sizeof(s->vm_id)) < 0) {
        log_warn("console: refused %s: '%s' is not /v1/vms/{id}/vnc", peer, uri);
        return 1;
    }
    if (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) > 0 &&
        !origin_allowed(p, origin)) {
        log_warn("console: refused %s for VM %s: origin '%s' is not allowed (--console-origins)",
                 peer, s->vm_id, origin);
        return 1;
    }
    unsigned char key[CONSOLE_TICKET_KEY_LEN];
    pthread_mutex_lock(&p->a->cred_lock);
    int joined = p->a->order_token[0] != '\0';
    if (joined)
        console_ticket_key(p->a->order_token, key);
    pthread_mutex_unlock(&p->a->cred_lock);
    const char *ticket = lws_get_urlarg_by_name(wsi, "ticket=", buf, sizeof(buf));
    _cleanup_error_ cu_error *err = NULL;
    if (!joined || console_ticket_check(key, sizeof(key), ticket, s->vm_id, "vnc", now_ms(),
                                        &p->seen, &err) < 0) {
        log_warn("console: refused %s for VM %s: %s", peer, s->vm_id,
                 err ? err->message : "this host has not joined yet");
        return 1;
    }
    if ((s->vm_fd = connect_vnc(p->a, s->vm_id)) >= 0)
        s->has_fd = 1;
    else {
        log_warn("console: refused %s for VM %s: its VNC socket: %s (is it running?)", peer,
                 s->vm_id, strerror(errno));
        return 1;
    }
    log_info("console: %s opened the screen of VM %s", peer, s->vm_id);
    return 0;
}

/* ---- the pipe ---------------------------------------------------------- */

static int adopt_vm(struct lws *wsi, session *s)
{
    lws_sock_file_fd_type fd = {.sockfd = s->vm_fd};
    s->has_fd = 0; /* lws's now, adopted or closed */
    s->vm = lws_adopt_descriptor_vhost(lws_get_vhost(wsi), LWS_ADOPT_SOCKET, fd,
                                       "cumulus-vm-socket", wsi);
    if (s->vm == NULL) {
        log_error("console: VM %s: cannot add its VNC socket to the event loop", s->vm_id);
        return -1;
    }
    lws_set_opaque_user_data(s->vm, s);
    return 0;
}

static int viewer(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len)
{
    session *s = user;
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return admit(wsi, s);
    case LWS_CALLBACK_ESTABLISHED:
        return adopt_vm(wsi, s);
    case LWS_CALLBACK_RECEIVE:
        if (s->vm == NULL)
            return -1;
        if (s->up_len + len > 2 * CHUNK) {
            log_error("console: VM %s: viewer overran its buffer", s->vm_id);
            return -1;
        }
        memcpy(s->up + LWS_PRE + s->up_len, in, len);
        s->up_len += len;
        lws_rx_flow_control(wsi, 0); /* until the VM has taken it */
        lws_callback_on_writable(s->vm);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (s->down_len > 0) {
            if (lws_write(wsi, s->down + LWS_PRE, s->down_len, LWS_WRITE_BINARY) <
                (int)s->down_len)
                return -1;
            s->down_len = 0;
            if (s->vm)
                lws_rx_flow_control(s->vm, 1);
        }
        if (s->vm_gone) {
            lws_close_reason(wsi, LWS_CLOSE_STATUS_GOINGAWAY,
                             (unsigned char *)"the VM's screen closed", 22);
            return -1;
        }
        return 0;
    case LWS_CALLBACK_CLOSED:
        if (s->vm) { /* the viewer went first: the VM's side goes too */
            lws_set_opaque_user_data(s->vm, NULL);
            lws_set_timeout(s->vm, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
            s->vm = NULL;
        }
        log_info("console: a viewer of VM %s left", s->vm_id);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        if (s && s->has_fd) { /* refused or failed before it was adopted */
            close(s->vm_fd);
            s->has_fd = 0;
        }
        return 0;
    default:
        return 0;
    }
}

static int vm_socket(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len)
{
    (void)user;
    session *s = lws_get_opaque_user_data(wsi);
    switch (reason) {
    case LWS_CALLBACK_RAW_RX:
        if (s == NULL || s->down_len + len > 2 * CHUNK)
            return -1;
        memcpy(s->down + LWS_PRE + s->down_len, in, len);
        s->down_len += len;
        lws_rx_flow_control(wsi, 0); /* until the viewer has taken it */
        lws_callback_on_writable(lws_get_parent(wsi));
        return 0;
    case LWS_CALLBACK_RAW_WRITEABLE:
        if (s == NULL)
            return -1;
        if (s->up_len > 0) {
            if (lws_write(wsi, s->up + LWS_PRE, s->up_len, LWS_WRITE_RAW) < (int)s->up_len)
                return -1;
            s->up_len = 0;
            lws_rx_flow_control(lws_get_parent(wsi), 1);
        }
        return 0;
    case LWS_CALLBACK_RAW_CLOSE:
        if (s) { /* QEMU closed it: the viewer gets what is left, then a close */
            s->vm = NULL;
            s->vm_gone = 1;
            lws_callback_on_writable(lws_get_parent(wsi));
        }
        return 0;
    default:
        return 0;
    }
}

/* Anything but a websocket upgrade: 404. */
static int plain_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                      size_t len)
{
    (void)user, (void)in, (void)len;
    if (reason == LWS_CALLBACK_HTTP) {
        lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND,
                               "consoles are websockets: GET /v1/vms/{id}/vnc?ticket=T with "
                               "the subprotocol 'binary'");
        return -1;
    }
    if (reason == LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION)
        return 1; /* a websocket without the subprotocol "binary" */
    return 0;
}

static const struct lws_protocols protocols[] = {
    {"http", plain_http, 0, 0, 0, NULL, 0},
    {"binary", viewer, sizeof(session), CHUNK, 0, NULL, 0},
    {"cumulus-vm-socket", vm_socket, 0, CHUNK, 0, NULL, 0},
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
        if (p->norigins == MAX_ORIGINS)
            return cu_error_set(err, 400, CU_E_CONFIG, NULL,
                                "console-origins: at most %d origins", MAX_ORIGINS);
        p->origins[p->norigins++] = strdup(o);
    }
    return 0;
}

static void proxy_free(console_proxy *p)
{
    if (p->ctx)
        lws_context_destroy(p->ctx);
    for (size_t i = 0; i < p->norigins; i++)
        free(p->origins[i]);
    console_ticket_seen_destroy(&p->seen);
    free(p);
}

console_proxy *console_proxy_start(agent *a, const char *listen, const char *origins,
                                   cu_error **err)
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
    log_info("consoles: websockets on ws://%s:%u/v1/vms/{id}/vnc", host, p->port);
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
