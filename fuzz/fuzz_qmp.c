/* fuzz_qmp.c: the QMP client (agent/qmp.c) reading what QEMU sends: the
 * greeting, replies, events, line framing.  A thread of the harness plays
 * QEMU on a unix socket in a temporary directory (no network): it accepts
 * the agent's connection, sends the input, closes its sending side and
 * reads whatever the client writes until the client closes.  The client
 * does what the agent does: qmp_connect() (greeting, qmp_capabilities, id
 * 1), qmp_query_status() (id 2), qmp_execute("query-block") (id 3) and
 * qmp_wait_event("SHUTDOWN").  The input's end is QEMU closing the socket,
 * so no call ever waits for its timeout. */
#define _GNU_SOURCE
#include "fuzz.h"

#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "qmp.h"

static char dir[128], sock_path[160];
static int listen_fd = -1;

typedef struct qemu_side {
    const uint8_t *data;
    size_t size;
} qemu_side;

static void remove_socket(void)
{
    unlink(sock_path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/cumulus-fuzz-qmp-XXXXXX", tmp && tmp[0] == '/' ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL)
        abort();
    snprintf(sock_path, sizeof(sock_path), "%s/qmp.sock", dir);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    memcpy(addr.sun_path, sock_path, strlen(sock_path) + 1);
    listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(listen_fd, 4) < 0)
        abort();
    atexit(remove_socket);
    return 0;
}

static void *play_qemu(void *arg)
{
    const qemu_side *s = arg;
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        abort();
    /* The input fits the socket's buffer (libFuzzer's inputs are small),
     * so this never waits for the client. */
    for (size_t off = 0; off < s->size;) {
        ssize_t n = send(fd, s->data + off, s->size - off, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    shutdown(fd, SHUT_WR);
    char sink[4096];
    while (recv(fd, sink, sizeof(sink), 0) > 0)
        ;
    close(fd);
    return NULL;
}

static void on_event(void *opaque, const char *event, const json_t *data)
{
    size_t *count = opaque;
    (*count)++;
    char *text = data ? json_dumps(data, JSON_COMPACT) : NULL;
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qemu_side side = {data, size};
    pthread_t t;
    if (pthread_create(&t, NULL, play_qemu, &side) != 0)
        abort();
    cu_error *err = NULL;
    qmp *q = qmp_connect(sock_path, 5000, &err);
    if (q != NULL) {
        size_t events = 0;
        qmp_set_event_handler(q, on_event, &events);
        char status[32];
        if (qmp_query_status(q, status, sizeof(status), 5000, &err) == 0)
            FUZZ_CHECK(strlen(status) < sizeof(status));
        cu_error_freep(&err);
        json_t *r = qmp_execute(q, "query-block", json_pack("{s:b}", "flat", 1), 5000, &err);
        json_decref(r);
        cu_error_freep(&err);
        qmp_wait_event(q, "SHUTDOWN", 0, &err);
        cu_error_freep(&err);
        qmp_close(q);
    } else {
        FUZZ_CHECK(err != NULL && err->status == 500);
        cu_error_freep(&err);
    }
    pthread_join(t, NULL);
    return 0;
}
