/* loop.c: see loop.h. */
#define _GNU_SOURCE
#include "loop.h"

#include <time.h>

struct timespec cu_deadline_after(unsigned ms)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

long long cu_monotonic_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

double cu_monotonic_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *loop_main(void *arg)
{
    cu_loop *l = arg;
    pthread_mutex_lock(&l->lock);
    while (!l->stop) {
        l->pending = 0;
        pthread_mutex_unlock(&l->lock);
        l->fn(l->arg);
        pthread_mutex_lock(&l->lock);
        if (l->pending || l->stop)
            continue;
        struct timespec until = cu_deadline_after(l->interval_ms);
        while (!l->pending && !l->stop &&
               pthread_cond_timedwait(&l->wake, &l->lock, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

int cu_loop_start(cu_loop *l, void (*fn)(void *), void *arg, unsigned interval_ms,
                  cu_error **err)
{
    l->fn = fn;
    l->arg = arg;
    l->interval_ms = interval_ms ? interval_ms : 1;
    l->pending = l->stop = 0;
    pthread_mutex_init(&l->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->wake, &ca);
    pthread_condattr_destroy(&ca);
    int e = pthread_create(&l->thread, NULL, loop_main, l);
    if (e != 0)
        return cu_error_errno(err, e, "cannot start a thread");
    l->running = 1;
    return 0;
}

void cu_loop_kick(cu_loop *l)
{
    if (!l->running)
        return;
    pthread_mutex_lock(&l->lock);
    l->pending = 1;
    pthread_cond_broadcast(&l->wake);
    pthread_mutex_unlock(&l->lock);
}

void cu_loop_stop(cu_loop *l)
{
    if (!l->running)
        return;
    pthread_mutex_lock(&l->lock);
    l->stop = 1;
    pthread_cond_broadcast(&l->wake);
    pthread_mutex_unlock(&l->lock);
    pthread_join(l->thread, NULL);
    /* The lock and condition stay: a late kick from another thread (a VM
     * worker at exit) must find them valid. */
    l->running = 0;
}
