/* qmp.c: see qmp.h.  One reader at a time (the mutex), a bounded line
 * buffer, poll() before every read and write, and a deadline per call.
 *
 * Why the connection is closed on any timeout or protocol error: QMP has no
 * way to cancel a command, so its reply may still come; closing the socket
 * is the only way to be sure it is never read as the next command's reply
 * (libvirt does the same after a monitor error). */
#define _GNU_SOURCE
#include "qmp.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "loop.h"

#define QMP_BUF_INITIAL 4096
#define QMP_BUF_MAX (QMP_MAX_LINE + 2) /* a full line, "\r", one byte to see it is too long */
#define QMP_DESC_MAX 512               /* how much of QEMU's error text goes into a message */

struct qmp {
    pthread_mutex_t lock;
    int fd;      /* -1 once closed */
    bool hangup; /* closed because QEMU closed its end (it exited), not after an error */
    char *path;
    long long next_id;
    char *buf; /* unconsumed bytes are [off, len); no newline in [off, scan) */
    size_t off, len, cap, scan;
    qmp_event_fn event_fn;
    void *event_opaque;
    char *pending[QMP_MAX_PENDING_EVENTS]; /* event names not yet waited for */
    size_t n_pending;
};

/* One call's time budget.  Past the deadline, buffered lines are still
 * handled but nothing more is read (after at least one non-blocking look,
 * so a zero timeout still sees what has already arrived). */
typedef struct qmp_wait {
    long long deadline;
    int timeout_ms;
    bool read_once;
} qmp_wait;

enum qmp_read { RD_MSG, RD_EOF, RD_TIMEOUT, RD_ERROR };

static qmp_wait wait_start(int timeout_ms)
{
    if (timeout_ms < 0)
        timeout_ms = 0;
    return (qmp_wait){.deadline = cu_monotonic_ms() + timeout_ms, .timeout_ms = timeout_ms};
}

static int remaining_ms(const qmp_wait *w)
{
    long long left = w->deadline - cu_monotonic_ms();
    return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

/* Closes the socket.  `hangup`: QEMU closed its end (counts for wait_event). */
static void drop(qmp *q, bool hangup)
{
    if (q->fd >= 0)
        close(q->fd);
    q->fd = -1;
    q->hangup = hangup;
    q->off = q->len = q->scan = 0;
}

/* poll() for `events` until the deadline: 1 ready, 0 timed out, -1 error. */
static int wait_fd(qmp *q, short events, qmp_wait *w, cu_error **err)
{
    for (;;) {
        struct pollfd p = {.fd = q->fd, .events = events};
        int r = poll(&p, 1, remaining_ms(w));
        if (r > 0)
            return 1;
        if (r == 0)
            return 0;
        if (errno != EINTR)
            return cu_error_errno(err, errno, "poll on QMP socket '%s'", q->path);
    }
}

/* ---- reading ---------------------------------------------------------- */

static int parse_line(qmp *q, const char *line, size_t n, json_t **out, cu_error **err)
{
    json_error_t jerr;
    json_t *msg = json_loadb(line, n, JSON_REJECT_DUPLICATES, &jerr);
    if (msg == NULL)
        return cu_error_set(err, 500, QMP_E_PROTOCOL, NULL,
                            "malformed QMP message on '%s': %s (column %d)", q->path, jerr.text,
                            jerr.column);
    if (!json_is_object(msg)) {
        json_decref(msg);
        return cu_error_set(err, 500, QMP_E_PROTOCOL, NULL,
                            "malformed QMP message on '%s': not a JSON object", q->path);
    }
    *out = msg;
    return 1;
}

/* Takes the next complete line from the buffer: 1 (*out set), 0 none yet, -1. */
static int take_line(qmp *q, json_t **out, cu_error **err)
{
    while (q->buf != NULL) {
        char *start = q->buf + q->off;
        char *nl = memchr(q->buf + q->scan, '\n', q->len - q->scan);
        if (nl == NULL) {
            q->scan = q->len;
            if (q->len - q->off >= QMP_BUF_MAX)
                return cu_error_set(err, 500, QMP_E_PROTOCOL, NULL,
                                    "QMP message on '%s' is longer than %d bytes", q->path,
                                    QMP_MAX_LINE);
            return 0;
        }
        size_t n = (size_t)(nl - start);
        q->off = q->scan = (size_t)(nl - q->buf) + 1;
        if (n > 0 && start[n - 1] == '\r')
            n--;
        if (n > QMP_MAX_LINE)
            return cu_error_set(err, 500, QMP_E_PROTOCOL, NULL,
                                "QMP message on '%s' is longer than %d bytes", q->path,
                                QMP_MAX_LINE);
        if (n > 0)
            return parse_line(q, start, n, out, err);
    }
    return 0;
}

/* Makes room at the end of the buffer (compacting, then growing). */
static void make_room(qmp *q)
{
    if (q->off > 0) {
        memmove(q->buf, q->buf + q->off, q->len - q->off);
        q->len -= q->off;
        q->scan -= q->off;
        q->off = 0;
    }
    if (q->len < q->cap || q->cap >= QMP_BUF_MAX)
        return;
    size_t cap = q->cap ? q->cap * 2 : QMP_BUF_INITIAL;
    q->cap = cap > QMP_BUF_MAX ? QMP_BUF_MAX : cap;
    q->buf = realloc(q->buf, q->cap);
    if (q->buf == NULL)
        abort();
}

/* One read from the socket into the buffer. */
static enum qmp_read fill(qmp *q, qmp_wait *w, cu_error **err)
{
    if (w->read_once && cu_monotonic_ms() >= w->deadline)
        return RD_TIMEOUT;
    w->read_once = true;
    make_room(q);
    int r = wait_fd(q, POLLIN, w, err);
    if (r <= 0)
        return r == 0 ? RD_TIMEOUT : RD_ERROR;
    ssize_t n = recv(q->fd, q->buf + q->len, q->cap - q->len, MSG_DONTWAIT);
    if (n > 0) {
        q->len += (size_t)n;
        return RD_MSG;
    }
    if (n == 0 || errno == ECONNRESET)
        return RD_EOF;
    if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
        return RD_MSG;
    cu_error_errno(err, errno, "reading QMP socket '%s'", q->path);
    return RD_ERROR;
}

/* The next message (event or reply), whole lines first, then the socket. */
static enum qmp_read read_message(qmp *q, qmp_wait *w, json_t **out, cu_error **err)
{
    for (;;) {
        int r = take_line(q, out, err);
        if (r != 0)
            return r > 0 ? RD_MSG : RD_ERROR;
        enum qmp_read f = fill(q, w, err);
        if (f != RD_MSG)
            return f;
    }
}

/* ---- events ----------------------------------------------------------- */

static void remember_event(qmp *q, const char *name)
{
    if (q->n_pending == QMP_MAX_PENDING_EVENTS) {
        free(q->pending[0]);
        memmove(q->pending, q->pending + 1, (QMP_MAX_PENDING_EVENTS - 1) * sizeof(char *));
        q->n_pending--;
    }
    q->pending[q->n_pending] = strdup(name);
    if (q->pending[q->n_pending] == NULL)
        abort();
    q->n_pending++;
}

/* Removes the oldest remembered event called `name`; true if there was one. */
static bool take_event(qmp *q, const char *name)
{
    for (size_t i = 0; i < q->n_pending; i++) {
        if (strcmp(q->pending[i], name) != 0)
            continue;
        free(q->pending[i]);
        memmove(q->pending + i, q->pending + i + 1, (q->n_pending - i - 1) * sizeof(char *));
        q->n_pending--;
        return true;
    }
    return false;
}

/* Remembers and dispatches `msg` if it is an event; true when it was one. */
static bool handle_event(qmp *q, const json_t *msg)
{
    const char *name = json_string_value(json_object_get(msg, "event"));
    if (name == NULL)
        return false;
    remember_event(q, name);
    if (q->event_fn)
        q->event_fn(q->event_opaque, name, json_object_get(msg, "data"));
    return true;
}

/* ---- commands --------------------------------------------------------- */

static int send_all(qmp *q, const char *data, size_t len, qmp_wait *w, cu_error **err)
{
    while (len > 0) {
        ssize_t n = send(q->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
            continue;
        }
        if (errno == EPIPE || errno == ECONNRESET)
            return cu_error_set(err, 500, QMP_E_CLOSED, NULL, "QEMU closed the QMP socket '%s'",
                                q->path);
        if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
            return cu_error_errno(err, errno, "writing QMP socket '%s'", q->path);
        int r = wait_fd(q, POLLOUT, w, err);
        if (r <= 0)
            return r < 0 ? -1
                         : cu_error_set(err, 500, QMP_E_TIMEOUT, NULL,
                                        "QMP socket '%s' not writable within %d ms", q->path,
                                        w->timeout_ms);
    }
    return 0;
}

static int send_command(qmp *q, const char *command, json_t *args, long long id, qmp_wait *w,
                        cu_error **err)
{
    json_auto_t *cmd = json_pack("{s:s, s:I}", "execute", command, "id", (json_int_t)id);
    if (cmd == NULL)
        abort();
    if (args && json_object_set(cmd, "arguments", args) < 0)
        abort();
    _cleanup_free_ char *text = json_dumps(cmd, JSON_COMPACT);
    _cleanup_free_ char *line = NULL;
    if (text == NULL || asprintf(&line, "%s\n", text) < 0)
        abort();
    return send_all(q, line, strlen(line), w, err);
}

/* A reply must answer the command in flight: its id, or no id at all for
 * an error (QEMU's answer to a command it could not parse has none). */
static int check_reply(qmp *q, const json_t *msg, long long id, cu_error **err)
{
    bool is_error = json_object_get(msg, "error") != NULL;
    if (!is_error && json_object_get(msg, "return") == NULL)
        return cu_error_set(err, 500, QMP_E_PROTOCOL, NULL,
                            "unexpected QMP message on '%s': neither a reply nor an event",
                            q->path);
    const json_t *rid = json_object_get(msg, "id");
    if (rid == NULL && is_error)
        return 0;
    if (json_is_integer(rid) && json_integer_value(rid) == id)
        return 0;
    return cu_error_set(err, 500, QMP_E_PROTOCOL, NULL,
                        "QMP reply on '%s' does not match command id %lld", q->path, id);
}

/* Reads until the reply to command `id`, dispatching events; closes on failure. */
static json_t *wait_reply(qmp *q, const char *command, long long id, qmp_wait *w, cu_error **err)
{
    for (;;) {
        json_auto_t *msg = NULL;
        enum qmp_read r = read_message(q, w, &msg, err);
        if (r == RD_MSG && handle_event(q, msg))
            continue;
        if (r == RD_MSG && check_reply(q, msg, id, err) == 0)
            return steal_ptr(&msg);
        drop(q, r == RD_EOF);
        if (r == RD_TIMEOUT)
            cu_error_set(err, 500, QMP_E_TIMEOUT, NULL,
                         "QMP command '%s' got no reply within %d ms on '%s'", command,
                         w->timeout_ms, q->path);
        else if (r == RD_EOF)
            cu_error_set(err, 500, QMP_E_CLOSED, NULL,
                         "QEMU closed the QMP socket '%s' before replying to '%s'", q->path,
                         command);
        return NULL;
    }
}

/* The "return" value of a reply, or its "error" as a cu_error. */
static json_t *reply_value(qmp *q, const char *command, const json_t *reply, cu_error **err)
{
    const json_t *error = json_object_get(reply, "error");
    if (error == NULL)
        return json_incref(json_object_get(reply, "return"));
    const char *cls = json_string_value(json_object_get(error, "class"));
    const char *desc = json_string_value(json_object_get(error, "desc"));
    cu_error_set(err, 500, QMP_E_COMMAND, NULL, "QMP command '%s' failed: %s: %.*s", command,
                 cls ? cls : "(no class)", QMP_DESC_MAX, desc ? desc : "(no description)");
    return NULL;
}

static int closed_error(qmp *q, cu_error **err)
{
    return cu_error_set(err, 500, QMP_E_CLOSED, NULL, "QMP connection to '%s' is closed%s", q->path,
                        q->hangup ? " (QEMU exited)" : " after an earlier error");
}

static json_t *execute_locked(qmp *q, const char *command, json_t *args, qmp_wait *w,
                              cu_error **err)
{
    if (q->fd < 0) {
        closed_error(q, err);
        return NULL;
    }
    if (args && !json_is_object(args)) {
        cu_error_set(err, 500, CU_E_INTERNAL, NULL,
                     "arguments of QMP command '%s' must be an object", command);
        return NULL;
    }
    long long id = ++q->next_id;
    if (send_command(q, command, args, id, w, err) < 0) {
        drop(q, err && *err && strcmp((*err)->code, QMP_E_CLOSED) == 0);
        return NULL;
    }
    json_auto_t *reply = wait_reply(q, command, id, w, err);
    return reply ? reply_value(q, command, reply, err) : NULL;
}

json_t *qmp_execute(qmp *q, const char *command, json_t *arguments, int timeout_ms, cu_error **err)
{
    json_auto_t *args = arguments;
    qmp_wait w = wait_start(timeout_ms);
    pthread_mutex_lock(&q->lock);
    json_t *r = execute_locked(q, command, args, &w, err);
    pthread_mutex_unlock(&q->lock);
    return r;
}

void qmp_set_event_handler(qmp *q, qmp_event_fn fn, void *opaque)
{
    pthread_mutex_lock(&q->lock);
    q->event_fn = fn;
    q->event_opaque = opaque;
    pthread_mutex_unlock(&q->lock);
}

int qmp_query_status(qmp *q, char *buf, size_t len, int timeout_ms, cu_error **err)
{
    json_auto_t *r = qmp_execute(q, "query-status", NULL, timeout_ms, err);
    if (r == NULL)
        return -1;
    const char *status = json_string_value(json_object_get(r, "status"));
    if (status == NULL)
        return cu_error_set(err, 500, QMP_E_PROTOCOL, NULL,
                            "query-status on '%s' returned no \"status\" string", q->path);
    if (strlen(status) >= len)
        return cu_error_set(err, 500, QMP_E_PROTOCOL, NULL,
                            "query-status on '%s' returned a status longer than %zu bytes", q->path,
                            len ? len - 1 : 0);
    memcpy(buf, status, strlen(status) + 1);
    return 0;
}

/* ---- waiting for events ---------------------------------------------- */

static int wait_event_locked(qmp *q, const char *event, qmp_wait *w, cu_error **err)
{
    if (take_event(q, event))
        return 1;
    if (q->fd < 0)
        return q->hangup ? 1 : closed_error(q, err);
    for (;;) {
        json_auto_t *msg = NULL;
        enum qmp_read r = read_message(q, w, &msg, err);
        if (r == RD_TIMEOUT)
            return 0;
        if (r == RD_MSG && handle_event(q, msg)) {
            if (take_event(q, event))
                return 1;
            continue;
        }
        if (r == RD_MSG)
            cu_error_set(err, 500, QMP_E_PROTOCOL, NULL,
                         "unexpected QMP reply on '%s' with no command in flight", q->path);
        drop(q, r == RD_EOF);
        return r == RD_EOF ? 1 : -1;
    }
}

int qmp_wait_event(qmp *q, const char *event, int timeout_ms, cu_error **err)
{
    qmp_wait w = wait_start(timeout_ms);
    pthread_mutex_lock(&q->lock);
    int r = wait_event_locked(q, event, &w, err);
    pthread_mutex_unlock(&q->lock);
    return r;
}

/* ---- connecting ------------------------------------------------------- */

static int open_socket(qmp *q, qmp_wait *w, cu_error **err)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(q->path) >= sizeof(addr.sun_path))
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL,
                            "QMP socket path '%s' is longer than %zu bytes", q->path,
                            sizeof(addr.sun_path) - 1);
    memcpy(addr.sun_path, q->path, strlen(q->path) + 1);
    q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (q->fd < 0)
        return cu_error_errno(err, errno, "socket for QMP '%s'", q->path);
    for (;;) {
        if (connect(q->fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
            return 0;
        if (errno == EINTR)
            continue;
        /* EAGAIN: the listen backlog is full; QEMU accepts one client at a time */
        if (errno != EAGAIN || remaining_ms(w) == 0)
            return cu_error_errno(err, errno, "cannot connect to QMP socket '%s'", q->path);
        usleep(10 * 1000);
    }
}

static int read_greeting(qmp *q, qmp_wait *w, cu_error **err)
{
    json_auto_t *msg = NULL;
    enum qmp_read r = read_message(q, w, &msg, err);
    if (r == RD_TIMEOUT)
        return cu_error_set(err, 500, QMP_E_TIMEOUT, NULL, "no QMP greeting on '%s' within %d ms",
                            q->path, w->timeout_ms);
    if (r == RD_EOF)
        return cu_error_set(err, 500, QMP_E_CLOSED, NULL,
                            "QMP socket '%s' closed before the greeting", q->path);
    if (r == RD_ERROR)
        return -1;
    const json_t *hello = json_object_get(msg, "QMP");
    if (!json_is_object(hello))
        return cu_error_set(err, 500, QMP_E_PROTOCOL, NULL,
                            "'%s' did not greet with {\"QMP\": {...}}: is it a QMP socket?",
                            q->path);
    return 0;
}

qmp *qmp_connect(const char *socket_path, int timeout_ms, cu_error **err)
{
    qmp *q = calloc(1, sizeof(*q));
    if (q == NULL || (q->path = strdup(socket_path)) == NULL)
        abort();
    q->fd = -1;
    pthread_mutex_init(&q->lock, NULL);
    qmp_wait w = wait_start(timeout_ms);
    if (open_socket(q, &w, err) < 0 || read_greeting(q, &w, err) < 0) {
        qmp_close(q);
        return NULL;
    }
    json_t *r = execute_locked(q, "qmp_capabilities", NULL, &w, err);
    if (r == NULL) {
        cu_error_wrap(err, "QMP handshake");
        qmp_close(q);
        return NULL;
    }
    json_decref(r);
    return q;
}

void qmp_close(qmp *q)
{
    if (q == NULL)
        return;
    drop(q, false);
    for (size_t i = 0; i < q->n_pending; i++)
        free(q->pending[i]);
    pthread_mutex_destroy(&q->lock);
    free(q->buf);
    free(q->path);
    free(q);
}
