/* http_watch.c: see http_watch.h.
 *
 * Each connection has an entry (its socket context) in a list under the
 * watch's lock.  libmicrohttpd tells us of the connection's end
 * (MHD_CONNECTION_NOTIFY_CLOSED) before it closes the descriptor, and the
 * entry leaves the list then, under the same lock the watch holds while it
 * cuts: the descriptor it shuts down is always still that connection's. */
#define _GNU_SOURCE
#include "http_watch.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"
#include "loop.h"

#define BODY_DEADLINE_S 60u
#define BODY_MIN_RATE (16u * 1024) /* bytes a second */

unsigned http_body_deadline_s(const char *content_length, size_t max_body)
{
    unsigned long long n = max_body;
    char *end = NULL;
    errno = 0;
    unsigned long long announced = content_length ? strtoull(content_length, &end, 10) : n;
    if (content_length && end != content_length && *end == '\0' && errno == 0 && announced < n)
        n = announced;
    return BODY_DEADLINE_S + (unsigned)(n / BODY_MIN_RATE);
}

/* What a connection is waiting for. */
enum phase { ANSWERING, HEADERS, BODY };

typedef struct watched {
    http_watch *w;
    int fd;
    enum phase phase;
    unsigned allowed_s; /* for the headers or the body, while waiting */
    time_t deadline;    /* CLOCK_MONOTONIC seconds, while waiting */
    struct watched *prev, *next;
} watched;

struct http_watch {
    unsigned header_s;
    pthread_mutex_t lock;
    watched *head;
    cu_loop loop;
};

static time_t now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec;
}

static void cut_late(void *arg)
{
    http_watch *w = arg;
    time_t now = now_s();
    pthread_mutex_lock(&w->lock);
    for (watched *e = w->head; e; e = e->next) {
        if (e->phase == ANSWERING || now < e->deadline)
            continue;
        log_info("closing a connection whose request %s did not all arrive within %u s",
                 e->phase == HEADERS ? "headers" : "body", e->allowed_s);
        e->phase = ANSWERING; /* once */
        shutdown(e->fd, SHUT_RDWR);
    }
    pthread_mutex_unlock(&w->lock);
}

http_watch *http_watch_start(unsigned header_s, cu_error **err)
{
    http_watch *w = calloc(1, sizeof(*w));
    if (w == NULL)
        abort();
    w->header_s = header_s;
    pthread_mutex_init(&w->lock, NULL);
    if (cu_loop_start(&w->loop, cut_late, w, 1000, err) < 0) {
        pthread_mutex_destroy(&w->lock);
        free(w);
        return NULL;
    }
    return w;
}

void http_watch_stop(http_watch *w)
{
    if (w == NULL)
        return;
    cu_loop_stop(&w->loop);
    pthread_mutex_lock(&w->lock);
    while (w->head) { /* none left after MHD_stop_daemon; in case */
        watched *e = w->head;
        w->head = e->next;
        free(e);
    }
    pthread_mutex_unlock(&w->lock);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

void http_watch_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                       enum MHD_ConnectionNotificationCode code)
{
    http_watch *w = cls;
    watched *e = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (info == NULL || (e = calloc(1, sizeof(*e))) == NULL)
            return;
        *e = (watched){.w = w, .fd = info->connect_fd, .phase = HEADERS,
                       .allowed_s = w->header_s, .deadline = now_s() + (time_t)w->header_s};
        pthread_mutex_lock(&w->lock);
        e->next = w->head;
        if (w->head)
            w->head->prev = e;
        w->head = e;
        pthread_mutex_unlock(&w->lock);
        *socket_context = e;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && e) {
        pthread_mutex_lock(&w->lock);
        if (e->prev)
            e->prev->next = e->next;
        else
            w->head = e->next;
        if (e->next)
            e->next->prev = e->prev;
        pthread_mutex_unlock(&w->lock);
        free(e);
        *socket_context = NULL;
    }
}

static watched *entry_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? info->socket_context : NULL;
}

static void set_phase(watched *e, enum phase phase, unsigned allowed_s)
{
    if (e == NULL)
        return;
    pthread_mutex_lock(&e->w->lock);
    e->phase = phase;
    e->allowed_s = allowed_s;
    e->deadline = now_s() + (time_t)allowed_s;
    pthread_mutex_unlock(&e->w->lock);
}

void http_watch_headers_in(struct MHD_Connection *conn, unsigned body_s)
{
    set_phase(entry_of(conn), BODY, body_s);
}

void http_watch_body_in(struct MHD_Connection *conn)
{
    set_phase(entry_of(conn), ANSWERING, 0);
}

void http_watch_request_done(struct MHD_Connection *conn)
{
    watched *e = entry_of(conn);
    set_phase(e, HEADERS, e ? e->w->header_s : 0); /* header_s never changes */
}
