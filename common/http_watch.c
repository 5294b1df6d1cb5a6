/* http_watch.c: see http_watch.h.
 *
 * Each connection has an entry (its socket context) in a list under the
 * watch's lock.  libmicrohttpd tells us of the connection's end
 * (MHD_CONNECTION_NOTIFY_CLOSED) before it closes the descriptor, and the
 * entry leaves the list then, under the same lock the watch holds while it
 * cuts: the descriptor it shuts down is always still that connection's. */
#define _GNU_SOURCE
#include "http_watch.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"
#include "loop.h"

typedef struct watched {
    http_watch *w;
    int fd;
    int waiting;       /* for a request's headers */
    time_t deadline;   /* CLOCK_MONOTONIC seconds, while waiting */
    struct watched *prev, *next;
} watched;

struct http_watch {
    unsigned deadline_s;
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
        if (!e->waiting || now < e->deadline)
            continue;
        e->waiting = 0; /* once */
        log_info("closing a connection whose request headers did not all arrive within %u s",
                 w->deadline_s);
        shutdown(e->fd, SHUT_RDWR);
    }
    pthread_mutex_unlock(&w->lock);
}

http_watch *http_watch_start(unsigned deadline_s, cu_error **err)
{
    http_watch *w = calloc(1, sizeof(*w));
    if (w == NULL)
        abort();
    w->deadline_s = deadline_s;
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
        *e = (watched){.w = w, .fd = info->connect_fd, .waiting = 1,
                       .deadline = now_s() + (time_t)w->deadline_s};
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

static void set_waiting(struct MHD_Connection *conn, int waiting)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    watched *e = info ? info->socket_context : NULL;
    if (e == NULL)
        return;
    pthread_mutex_lock(&e->w->lock);
    e->waiting = waiting;
    e->deadline = now_s() + (time_t)e->w->deadline_s;
    pthread_mutex_unlock(&e->w->lock);
}

void http_watch_headers_in(struct MHD_Connection *conn)
{
    set_waiting(conn, 0);
}

void http_watch_request_done(struct MHD_Connection *conn)
{
    set_waiting(conn, 1);
}
