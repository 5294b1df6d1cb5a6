/* fake_qmp.h: a scripted fake QMP server for unit tests (libvirt's
 * qemumonitortestutils in miniature).  Header-only, because each
 * tests/unit/agent/test_*.c is built alone.
 *
 * It listens on a unix socket in a fresh temporary directory and serves one
 * client from a thread: the greeting, then qmp_capabilities (answered
 * automatically unless `manual_caps`), then the script.  Each step may read
 * one command and check its name and id (ids must count up by one, and no
 * second command may arrive before the reply), wait, send raw event lines,
 * then reply with the command's id, send garbage, send an oversized line or
 * close the socket (QEMU exiting).  After the script it waits for the client
 * to hang up; a command then is a failure.  The first failure is kept in
 * `failure`, for the test to check after fake_qmp_finish().
 *
 * Usage: fake_qmp_init(&f) (creates the socket), set options, start with
 * FAKE_QMP_RUN(&f, steps), drive the client, qmp_close() it, then
 * fake_qmp_finish(&f) and check f.failure; fake_qmp_cleanup(&f) in teardown
 * always (it stops the thread and removes the files). */
#ifndef CUMULUS_TEST_FAKE_QMP_H
#define CUMULUS_TEST_FAKE_QMP_H

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "qmp.h"

#define FAKE_FN static __attribute__((unused))
#define FAKE_WAIT_MS 10000 /* the longest the fake waits for the client */
#define FAKE_GREETING                                                                              \
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, "              \
    "\"package\": \"fake\"}, \"capabilities\": [\"oob\"]}}\r\n"

enum fake_qmp_flags {
    FAKE_CLOSE = 1 << 0,     /* close the connection instead of replying */
    FAKE_RAW = 1 << 1,       /* send `reply` verbatim: no id, no parsing */
    FAKE_OVERSIZED = 1 << 2, /* send a line longer than QMP_MAX_LINE instead */
    FAKE_BAD_ID = 1 << 3,    /* answer with an id that is not the command's */
};

typedef struct fake_qmp_step {
    const char *expect; /* command to read first; NULL: read none */
    const char *events; /* raw lines sent before the reply, or NULL */
    const char *reply;  /* {"return": ...} or {"error": ...} without id, or NULL */
    int delay_ms;       /* pause before the events and the reply */
    int flags;
} fake_qmp_step;

typedef struct fake_qmp {
    char dir[64];
    char path[100];       /* fits sun_path */
    const char *greeting; /* raw; NULL: FAKE_GREETING, "": none at all */
    bool manual_caps;     /* qmp_capabilities is a script step */
    const fake_qmp_step *steps;
    size_t n_steps;
    int listen_fd, conn_fd;
    pthread_t thread;
    bool running;
    atomic_bool stop;
    char rbuf[65536];
    size_t rlen;
    long long last_id;
    char last_args[512]; /* compact JSON of the last command's arguments */
    char failure[512];
    bool saw_eof; /* the client hung up */
} fake_qmp;

#define FAKE_QMP_RUN(f, steps) fake_qmp_start((f), (steps), sizeof(steps) / sizeof((steps)[0]))

__attribute__((format(printf, 2, 3))) FAKE_FN void fake_fail(fake_qmp *f, const char *fmt, ...)
{
    if (f->failure[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->failure, sizeof(f->failure), fmt, ap);
    va_end(ap);
}

FAKE_FN void fake_sleep(fake_qmp *f, int ms)
{
    for (; ms > 0 && !atomic_load(&f->stop); ms -= 10)
        usleep((ms < 10 ? ms : 10) * 1000);
}

/* Waits for `events` on fd in slices, so fake_qmp_cleanup() can stop it. */
FAKE_FN bool fake_poll(fake_qmp *f, int fd, short events)
{
    for (int waited = 0; waited < FAKE_WAIT_MS && !atomic_load(&f->stop); waited += 50) {
        struct pollfd p = {.fd = fd, .events = events};
        if (poll(&p, 1, 50) > 0)
            return true;
    }
    return false;
}

FAKE_FN void fake_send(fake_qmp *f, const char *data, size_t len)
{
    while (len > 0 && f->conn_fd >= 0) {
        ssize_t n = send(f->conn_fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* the client went away: fine, it may have timed out */
        data += n;
        len -= (size_t)n;
    }
}

/* One line from the client into `line` (NUL-terminated): 1, 0 at EOF, -1. */
FAKE_FN int fake_read_line(fake_qmp *f, char *line, size_t cap)
{
    for (;;) {
        char *nl = memchr(f->rbuf, '\n', f->rlen);
        if (nl) {
            size_t n = (size_t)(nl - f->rbuf);
            snprintf(line, cap, "%.*s", (int)n, f->rbuf);
            memmove(f->rbuf, nl + 1, f->rlen - n - 1);
            f->rlen -= n + 1;
            return 1;
        }
        if (f->rlen == sizeof(f->rbuf) || !fake_poll(f, f->conn_fd, POLLIN))
            return -1;
        ssize_t n = recv(f->conn_fd, f->rbuf + f->rlen, sizeof(f->rbuf) - f->rlen, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return 0;
        if (n < 0 && errno != EINTR && errno != EAGAIN)
            return -1;
        if (n > 0)
            f->rlen += (size_t)n;
    }
}

/* Reads a command and checks it is `expect` with the next id; its id or -1. */
FAKE_FN long long fake_read_command(fake_qmp *f, const char *expect)
{
    char line[4096];
    int r = fake_read_line(f, line, sizeof(line));
    if (r <= 0) {
        f->saw_eof = r == 0;
        fake_fail(f, "expected '%s', got %s", expect, r == 0 ? "EOF" : "nothing");
        return -1;
    }
    json_auto_t *cmd = json_loads(line, 0, NULL);
    const char *name = json_string_value(json_object_get(cmd, "execute"));
    json_t *id = json_object_get(cmd, "id");
    if (name == NULL || strcmp(name, expect) != 0 || !json_is_integer(id)) {
        fake_fail(f, "expected '%s' with an integer id, got: %s", expect, line);
        return -1;
    }
    if (json_integer_value(id) != f->last_id + 1)
        fake_fail(f, "id %lld after %lld", (long long)json_integer_value(id), f->last_id);
    char peek;
    if (f->rlen > 0 || recv(f->conn_fd, &peek, 1, MSG_PEEK | MSG_DONTWAIT) > 0)
        fake_fail(f, "a second command arrived before the reply to '%s'", expect);
    char *args = json_dumps(json_object_get(cmd, "arguments"), JSON_COMPACT | JSON_ENCODE_ANY);
    snprintf(f->last_args, sizeof(f->last_args), "%s", args ? args : "");
    free(args);
    return f->last_id = json_integer_value(id);
}

FAKE_FN void fake_send_reply(fake_qmp *f, const fake_qmp_step *s, long long id)
{
    json_auto_t *reply = json_loads(s->reply, 0, NULL);
    if (reply == NULL) {
        fake_fail(f, "the script's reply is not JSON: %s", s->reply);
        return;
    }
    if (s->expect)
        json_object_set_new(reply, "id", json_integer(s->flags & FAKE_BAD_ID ? id + 1000 : id));
    char *text = json_dumps(reply, JSON_COMPACT);
    fake_send(f, text, strlen(text));
    fake_send(f, "\r\n", 2);
    free(text);
}

FAKE_FN void fake_send_oversized(fake_qmp *f)
{
    size_t n = QMP_MAX_LINE + 16;
    char *junk = malloc(n);
    memset(junk, 'x', n);
    junk[n - 1] = '\n';
    fake_send(f, junk, n);
    free(junk);
}

/* Plays one step; false when the connection is closed or the script failed. */
FAKE_FN bool fake_step(fake_qmp *f, const fake_qmp_step *s)
{
    long long id = s->expect ? fake_read_command(f, s->expect) : 0;
    if (id < 0)
        return false;
    fake_sleep(f, s->delay_ms);
    if (s->events)
        fake_send(f, s->events, strlen(s->events));
    if (s->flags & FAKE_CLOSE) {
        close(f->conn_fd);
        f->conn_fd = -1;
        return false;
    }
    if (s->flags & FAKE_OVERSIZED)
        fake_send_oversized(f);
    else if (s->reply && (s->flags & FAKE_RAW))
        fake_send(f, s->reply, strlen(s->reply));
    else if (s->reply)
        fake_send_reply(f, s, id);
    return f->failure[0] == '\0';
}

/* After the script: the client must hang up without sending anything more. */
FAKE_FN void fake_drain(fake_qmp *f)
{
    char line[4096];
    int r = fake_read_line(f, line, sizeof(line));
    f->saw_eof = r == 0;
    if (r > 0)
        fake_fail(f, "unexpected command after the script: %s", line);
    else if (r < 0 && !atomic_load(&f->stop))
        fake_fail(f, "the client did not hang up");
}

FAKE_FN void *fake_thread(void *arg)
{
    fake_qmp *f = arg;
    if (!fake_poll(f, f->listen_fd, POLLIN)) {
        fake_fail(f, "no client connected");
        return NULL;
    }
    f->conn_fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (f->conn_fd < 0) {
        fake_fail(f, "accept: %s", strerror(errno));
        return NULL;
    }
    struct timeval tv = {.tv_sec = 5};
    setsockopt(f->conn_fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    const char *greeting = f->greeting ? f->greeting : FAKE_GREETING;
    fake_send(f, greeting, strlen(greeting));
    bool go = true;
    if (!f->manual_caps)
        go = fake_step(f,
                       &(fake_qmp_step){.expect = "qmp_capabilities", .reply = "{\"return\": {}}"});
    for (size_t i = 0; go && i < f->n_steps; i++)
        go = fake_step(f, &f->steps[i]);
    if (go)
        fake_drain(f);
    if (f->conn_fd >= 0)
        close(f->conn_fd);
    f->conn_fd = -1;
    return NULL;
}

/* Creates the directory and the listening socket; 0 or -1. */
FAKE_FN int fake_qmp_init(fake_qmp *f)
{
    memset(f, 0, sizeof(*f));
    f->listen_fd = f->conn_fd = -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/cumulus-qmp-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/qmp.sock", f->dir);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", f->path);
    f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (f->listen_fd < 0 || bind(f->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(f->listen_fd, 1) < 0)
        return -1;
    return 0;
}

FAKE_FN int fake_qmp_start(fake_qmp *f, const fake_qmp_step *steps, size_t n_steps)
{
    f->steps = steps;
    f->n_steps = n_steps;
    if (pthread_create(&f->thread, NULL, fake_thread, f) != 0)
        return -1;
    f->running = true;
    return 0;
}

/* Waits for the script to end (the client must have hung up by now). */
FAKE_FN void fake_qmp_finish(fake_qmp *f)
{
    if (f->running)
        pthread_join(f->thread, NULL);
    f->running = false;
}

FAKE_FN void fake_qmp_cleanup(fake_qmp *f)
{
    atomic_store(&f->stop, true);
    fake_qmp_finish(f);
    if (f->listen_fd >= 0)
        close(f->listen_fd);
    f->listen_fd = -1;
    if (f->dir[0]) {
        unlink(f->path);
        rmdir(f->dir);
    }
    f->dir[0] = '\0';
}

#endif
