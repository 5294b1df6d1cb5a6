/* bare_mhd.c: bench-bare-mhd — the peer that bench/run-api-bench measures
 * the control plane against.
 *
 * A bare libmicrohttpd server started with the same threading flags and
 * options as common/http_server.c (a thread per connection, an internal
 * polling thread, poll()), answering every request with one fixed JSON body
 * of about the size of a GET /v1/vms page, with the same response headers.
 * What the daemon costs beyond this peer is its own work: routing, auth,
 * SQLite and JSON.
 *
 * It must not do anything per request that the daemon's HTTP layer does not
 * do too (no logging, no parsing): it is the floor, not a second daemon.
 *
 * Usage: bench-bare-mhd [--listen HOST:PORT] [--body-bytes N]
 * Logs "listening on http://HOST:PORT (port N)" to stderr, like the daemon,
 * and stops on SIGINT or SIGTERM. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define DEFAULT_LISTEN "127.0.0.1:0"
#define DEFAULT_BODY_BYTES 40000ul
#define MAX_BODY_BYTES (64ul << 20)

typedef struct options {
    const char *listen;
    unsigned long body_bytes;
} options;

static void usage(FILE *to)
{
    fprintf(to, "usage: bench-bare-mhd [--listen HOST:PORT] [--body-bytes N]\n"
                "  --listen      address to serve on; port 0 picks a free port (default %s)\n"
                "  --body-bytes  size of the fixed JSON body of every answer (default %lu)\n",
            DEFAULT_LISTEN, DEFAULT_BODY_BYTES);
}

static int parse_size(const char *text, unsigned long *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || v < 64 ||
        v > MAX_BODY_BYTES)
        return -1;
    *out = v;
    return 0;
}

/* Returns 0 to run, 1 to exit successfully (--help), -1 on a usage error. */
static int parse_args(int argc, char **argv, options *o)
{
    o->listen = DEFAULT_LISTEN;
    o->body_bytes = DEFAULT_BODY_BYTES;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 1;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bench-bare-mhd: option '%s' is unknown or needs a value\n", a);
            return -1;
        }
        if (strcmp(a, "--listen") == 0) {
            o->listen = argv[++i];
        } else if (strcmp(a, "--body-bytes") == 0) {
            if (parse_size(argv[++i], &o->body_bytes) < 0) {
                fprintf(stderr, "bench-bare-mhd: --body-bytes '%s' must be 64 to %lu\n", argv[i],
                        MAX_BODY_BYTES);
                return -1;
            }
        } else {
            fprintf(stderr, "bench-bare-mhd: unknown option '%s'\n", a);
            return -1;
        }
    }
    return 0;
}

/* HOST:PORT or [V6]:PORT into a socket address; returns the family or -1. */
static int make_sockaddr(const char *listen, struct sockaddr_storage *ss)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    size_t n = colon ? (size_t)(colon - listen) : 0;
    const char *h = listen;
    if (colon && listen[0] == '[' && n >= 2 && listen[n - 1] == ']') {
        h++;
        n -= 2;
    }
    char *end = NULL;
    unsigned long port = colon ? strtoul(colon + 1, &end, 10) : 0;
    if (colon == NULL || n == 0 || n >= sizeof(host) || end == colon + 1 || *end != '\0' ||
        port > 65535)
        return -1;
    memcpy(host, h, n);
    host[n] = '\0';
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        return AF_INET;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        return AF_INET6;
    }
    return -1;
}

/* Appends `len` bytes of `src` at `*n` in `buf`. */
static void put(char *buf, size_t *n, const char *src, size_t len)
{
    memcpy(buf + *n, src, len);
    *n += len;
}

/* A page shaped like GET /v1/vms (VM-like objects, then the cursor), padded
 * to exactly `size` bytes so the peer sends as much as the daemon. */
static char *make_body(size_t size, size_t *len)
{
    static const char head[] = "{\"vms\":[", mid[] = "],\"next\":null,\"pad\":\"",
                      end[] = "\"}\n";
    const size_t frame = sizeof(head) - 1 + sizeof(mid) - 1 + sizeof(end) - 1;
    char *body = malloc(size);
    if (body == NULL)
        return NULL;
    size_t n = 0;
    put(body, &n, head, sizeof(head) - 1);
    char item[512];
    for (unsigned i = 0;; i++) {
        int k = snprintf(item, sizeof(item),
                         "%s{\"id\":\"vm-%016x\",\"name\":\"bare-%05u\",\"desired_state\":"
                         "\"running\",\"state\":\"pending\",\"size\":\"s-1vcpu-1gb\",\"vcpus\":1,"
                         "\"memory_mib\":1024,\"disk_gib\":25,\"image\":\"debian-12-amd64\","
                         "\"architecture\":\"x86_64\",\"ssh_keys\":[],\"host\":null,\"ssh\":null}",
                         i ? "," : "", i * 2654435761u, i);
        if (k < 0 || n + (size_t)k + frame - (sizeof(head) - 1) > size)
            break;
        put(body, &n, item, (size_t)k);
    }
    put(body, &n, mid, sizeof(mid) - 1);
    size_t pad = size - n - (sizeof(end) - 1);
    memset(body + n, 'x', pad);
    n += pad;
    put(body, &n, end, sizeof(end) - 1);
    *len = n;
    return body;
}

typedef struct peer {
    const char *body;
    size_t len;
} peer;

/* libmicrohttpd calls this once with the headers, then per upload chunk,
 * then once more: like the daemon, answer only on a later call, and drop
 * any upload. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    static int started;
    const peer *p = cls;
    (void)url;
    (void)method;
    (void)version;
    (void)upload_data;
    if (*req_cls == NULL) {
        *req_cls = &started;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(p->len, (void *)p->body, MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* The same flags and limits as common/http_server.c: the comparison is
 * only fair while these match. */
static struct MHD_Daemon *start(const char *listen, peer *p)
{
    struct sockaddr_storage ss;
    int family = make_sockaddr(listen, &ss);
    if (family < 0) {
        fprintf(stderr, "bench-bare-mhd: listen address '%s' must look like HOST:PORT\n", listen);
        return NULL;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, p, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT, 512u, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    if (d == NULL)
        fprintf(stderr, "bench-bare-mhd: cannot listen on '%s'\n", listen);
    return d;
}

/* Signals are blocked in every thread (MHD's inherit the mask) and taken
 * here with sigwait, as the daemon does. */
static void block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
    options o;
    int r = parse_args(argc, argv, &o);
    if (r != 0)
        return r > 0 ? 0 : 2;
    peer p;
    char *body = make_body(o.body_bytes, &p.len);
    if (body == NULL) {
        fprintf(stderr, "bench-bare-mhd: out of memory\n");
        return 1;
    }
    p.body = body;
    sigset_t set;
    block_signals(&set);
    struct MHD_Daemon *d = start(o.listen, &p);
    if (d == NULL) {
        free(body);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    fprintf(stderr, "bench-bare-mhd: listening on http://%s (port %u), body %zu bytes\n",
            o.listen, info ? (unsigned)info->port : 0u, p.len);
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "bench-bare-mhd: stopping on signal %d\n", sig);
    MHD_stop_daemon(d);
    free(body);
    return 0;
}
