/* api_events.c: GET /v1/events — the record of state changes (events.h).
 *
 * Without ?follow: a page of events, oldest first after the ?after=
 * cursor, paginated like every list.  With ?follow=true: a live stream of
 * Server-Sent Events (text/event-stream), one block per event
 *     id: SEQ
 *     event: TYPE
 *     data: {the event as the list shows it, on one line}
 * starting after the Last-Event-ID header that a reconnecting EventSource
 * sends, else after ?after=, else at the newest event (only what happens
 * from now on).  It opens with "retry:" and an "id:" block naming where it
 * starts, so a client that saw nothing still resumes from there.
 *
 * A stream holds its connection's thread (one per connection, see
 * http_server.h), so at most EVENTS_MAX_STREAMS are open at once.  It
 * waits on the operations' condition variable, which every commit that
 * wrote events broadcasts (events_wake) and so does shutdown (stopping):
 * then the stream ends at once and the server can stop.  While it waits
 * it looks every second whether its client went away (libmicrohttpd does
 * not, meanwhile), so a closed stream frees its thread soon.  An idle
 * stream sends a comment every EVENTS_KEEPALIVE_S seconds, which keeps
 * proxies from closing it. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "cleanup.h"
#include "events.h"
#include "log.h"
#include "ops.h"
#include "validate.h"

#define EVENT_COLUMNS                                                                              \
    "SELECT seq, printf('evt-%016x', seq) AS id, created_at AS time, type, target_type,"           \
    " target_id, target_name, data AS data_json FROM events WHERE seq > ?1 AND seq <= ?2"          \
    " AND (?3 IS NULL OR substr(type, 1, length(?3)) = ?3)"
/* Two statements, so that a target filter uses the index on target_id
 * instead of reading every event after the cursor.  A name means the
 * resource that has it now (names are reused after a delete): its whole
 * history, by id; a deleted resource is found by its id. */
static const char sql_all[] = EVENT_COLUMNS " ORDER BY seq LIMIT ?5";
static const char sql_target[] = EVENT_COLUMNS
    " AND target_id IN (SELECT ?4 UNION SELECT id FROM vms WHERE name = ?4"
    " UNION SELECT id FROM hosts WHERE name = ?4 UNION SELECT id FROM images WHERE name = ?4)"
    " ORDER BY seq LIMIT ?5";

#define SQL_NEWEST "SELECT coalesce(max(seq), 0) FROM events"
#define SEQ_MAX ((long long)1 << 62)
#define STREAM_BATCH 100     /* events read from the store at a time */
#define STREAM_RETRY_MS 3000 /* how soon an EventSource reconnects */

typedef struct events_filter {
    const char *type;   /* a prefix of the type ("vm." or "vm.state_changed"), or NULL */
    const char *target; /* the target's id or name, or NULL */
} events_filter;

/* A row of the table in the API's shape, with "_seq" for the page cursor. */
static json_t *event_to_api(const json_t *row)
{
    json_t *seq = json_object_get(row, "seq");
    json_t *target =
        json_pack("{s:O, s:O, s:O}", "type", json_object_get(row, "target_type"), "id",
                  json_object_get(row, "target_id"), "name", json_object_get(row, "target_name"));
    return json_pack("{s:O, s:O, s:O, s:O, s:O, s:o, s:O}", "_seq", seq, "seq", seq, "id",
                     json_object_get(row, "id"), "time", json_object_get(row, "time"), "type",
                     json_object_get(row, "type"), "target", target, "data",
                     json_object_get(row, "data"));
}

/* The events in (after, upto] that pass the filter, oldest first, at most
 * `limit`; NULL on error. */
static json_t *events_read(cp_app *app, const events_filter *f, long long after, long long upto,
                           long long limit, cu_error **err)
{
    json_t *rows = store_list(app->store, err, f->target ? sql_target : sql_all, "iissi", after,
                              upto, f->type, f->target, limit);
    if (rows == NULL)
        return NULL;
    json_t *events = json_array();
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) json_array_append_new(events, event_to_api(row));
    json_decref(rows);
    return events;
}

static int check_type(const char *type, cu_error **err)
{
    size_t n = strspn(type, "abcdefghijklmnopqrstuvwxyz0123456789._");
    if (n == 0 || type[n] != '\0' || n > 64)
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "type",
                            "query parameter 'type' must be an event type or its beginning (1 "
                            "to 64 of a-z, 0-9, '.' and '_', e.g. 'vm.' or "
                            "'vm.state_changed'), got '%s'",
                            type);
    return 0;
}

static int parse_filter(http_request *req, events_filter *f, cu_error **err)
{
    f->type = http_query(req, "type");
    f->target = http_query(req, "target");
    if (f->type && check_type(f->type, err) < 0)
        return -1;
    return f->target ? validate_dns_label("target", f->target, err) : 0;
}

/* ---- the stream ------------------------------------------------------ */

static int open_streams; /* atomic */

typedef struct event_stream {
    cp_app *app;
    int fd;              /* the client's socket, to notice it going away */
    char *type, *target; /* the filter, copied: the stream outlives the handler */
    long long cursor;    /* every event up to here was sent or filtered out */
    char *buf;           /* what is still to be sent: buf[off..len) */
    size_t len, off;
    struct timespec last_sent; /* CLOCK_MONOTONIC, for the keep-alives */
} event_stream;

static void stream_free(void *cls)
{
    event_stream *es = cls;
    free(es->type);
    free(es->target);
    free(es->buf);
    free(es);
    __atomic_sub_fetch(&open_streams, 1, __ATOMIC_SEQ_CST);
}

static void stream_append(event_stream *es, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void stream_append(event_stream *es, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *piece = NULL;
    int n = vasprintf(&piece, fmt, ap);
    va_end(ap);
    if (n < 0 || (es->buf = realloc(es->buf, es->len + (size_t)n + 1)) == NULL)
        abort();
    memcpy(es->buf + es->len, piece, (size_t)n + 1);
    es->len += (size_t)n;
    free(piece);
}

static void stream_append_event(event_stream *es, json_t *event)
{
    json_object_del(event, "_seq");
    _cleanup_free_ char *data = json_dumps(event, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (data == NULL)
        abort();
    /* A type is [a-z0-9._] (triggers write them) and compact JSON has no
     * raw line break, so neither can end its line early. */
    stream_append(es, "id: %lld\nevent: %s\ndata: %s\n\n",
                  (long long)json_integer_value(json_object_get(event, "seq")),
                  json_string_value(json_object_get(event, "type")), data);
}

/* Appends the events after the cursor: 1 some, 0 none yet, -1 error. */
static int stream_next(event_stream *es)
{
    _cleanup_error_ cu_error *err = NULL;
    events_filter f = {es->type, es->target};
    /* Events up to the newest one now are all committed (see events.h):
     * once read through, the cursor may pass what the filter skipped. */
    long long upto = store_int(es->app->store, -1, &err, SQL_NEWEST, "");
    if (upto >= 0 && upto <= es->cursor)
        return 0;
    json_t *events =
        upto < 0 ? NULL : events_read(es->app, &f, es->cursor, upto, STREAM_BATCH, &err);
    if (events == NULL) {
        log_error("event stream: %s", err ? err->message : "cannot read the newest event");
        return -1;
    }
    size_t n = json_array_size(events);
    json_t *last = json_array_get(events, n - 1);
    es->cursor = n < STREAM_BATCH ? upto : json_integer_value(json_object_get(last, "seq"));
    size_t i;
    json_t *event;
    json_array_foreach(events, i, event) stream_append_event(es, event);
    json_decref(events);
    return n > 0;
}

/* Reads the change counter and whether the daemon is stopping. */
static int stream_stopping(cp_app *app, unsigned long *seen)
{
    pthread_mutex_lock(&app->ops_lock);
    *seen = app->ops_generation;
    int stopping = app->stopping;
    pthread_mutex_unlock(&app->ops_lock);
    return stopping;
}

/* Sleeps until something changed since `seen` or shutdown (0), the time
 * for a keep-alive (ETIMEDOUT) or the client went away (ECONNRESET),
 * which it checks every second. */
static int stream_wait(event_stream *es, unsigned long seen)
{
    cp_app *app = es->app;
    struct timespec keepalive = es->last_sent;
    keepalive.tv_sec += EVENTS_KEEPALIVE_S;
    for (;;) {
        struct timespec slice;
        clock_gettime(CLOCK_MONOTONIC, &slice);
        slice.tv_sec += 1;
        int last = slice.tv_sec > keepalive.tv_sec ||
                   (slice.tv_sec == keepalive.tv_sec && slice.tv_nsec >= keepalive.tv_nsec);
        int rc = 0, woken;
        pthread_mutex_lock(&app->ops_lock);
        while (app->ops_generation == seen && !app->stopping && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&app->ops_changed, &app->ops_lock,
                                        last ? &keepalive : &slice);
        woken = app->ops_generation != seen || app->stopping;
        pthread_mutex_unlock(&app->ops_lock);
        if (woken)
            return 0;
        if (last)
            return ETIMEDOUT;
        if (http_socket_closed(es->fd))
            return ECONNRESET;
    }
}

/* Fills the empty buffer: events, or a keep-alive comment when idle for
 * EVENTS_KEEPALIVE_S.  1 filled, 0 shutting down (end the stream), -1 on
 * an error or when the client is gone (cut the connection). */
static int stream_fill(event_stream *es)
{
    for (;;) {
        unsigned long seen;
        if (stream_stopping(es->app, &seen))
            return 0;
        int r = stream_next(es), why = r == 0 ? stream_wait(es, seen) : 0;
        if (why == ETIMEDOUT) {
            stream_append(es, ": keep-alive\n\n");
            r = 1;
        } else if (why == ECONNRESET) {
            return -1;
        }
        if (r != 0) {
            clock_gettime(CLOCK_MONOTONIC, &es->last_sent);
            return r;
        }
    }
}

/* libmicrohttpd asks for the next bytes (see http_stream_fn). */
static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    event_stream *es = cls;
    if (es->off == es->len) {
        es->off = es->len = 0;
        int r = stream_fill(es);
        if (r <= 0)
            return r == 0 ? HTTP_STREAM_END : HTTP_STREAM_ERROR;
    }
    size_t n = es->len - es->off < max ? es->len - es->off : max;
    memcpy(out, es->buf + es->off, n);
    es->off += n;
    return (ssize_t)n;
}

/* Where a stream starts: Last-Event-ID, else ?after=, else the newest. */
static int stream_start(http_request *req, const api_page *page, long long *cursor, cu_error **err)
{
    const char *last = http_header(req, "Last-Event-ID");
    if (last) {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(last, &end, 10);
        if (*last == '\0' || *end != '\0' || errno != 0 || v < 0 || v > SEQ_MAX)
            return cu_error_set(err, 400, CU_E_INVALID_FIELD, "Last-Event-ID",
                                "header 'Last-Event-ID' must be the seq of an event (a whole "
                                "number from 0), got '%s'",
                                last);
        *cursor = v;
    } else if (http_query(req, "after")) {
        *cursor = page->after;
    } else {
        *cursor = store_int(APP(req)->store, -1, err, SQL_NEWEST, "");
        if (*cursor < 0)
            return -1;
    }
    return 0;
}

static int events_follow(http_request *req, http_response *resp, const api_page *page,
                         const events_filter *f, cu_error **err)
{
    long long cursor = 0;
    if (stream_start(req, page, &cursor, err) < 0)
        return -1;
    if (__atomic_add_fetch(&open_streams, 1, __ATOMIC_SEQ_CST) > EVENTS_MAX_STREAMS) {
        __atomic_sub_fetch(&open_streams, 1, __ATOMIC_SEQ_CST);
        return cu_error_set(err, 503, "too_many_streams", NULL,
                            "%d event streams are open already, the most the control plane "
                            "serves at once; close one or try again later",
                            EVENTS_MAX_STREAMS);
    }
    event_stream *es = calloc(1, sizeof(*es));
    if (es == NULL)
        abort();
    es->app = APP(req);
    es->fd = http_request_socket(req);
    es->cursor = cursor;
    es->type = f->type ? strdup(f->type) : NULL;
    es->target = f->target ? strdup(f->target) : NULL;
    clock_gettime(CLOCK_MONOTONIC, &es->last_sent);
    /* The first piece goes out at once: the client knows it is connected
     * and from where, before any event. */
    stream_append(es, "retry: %d\nid: %lld\n\n", STREAM_RETRY_MS, cursor);
    resp->stream = stream_read;
    resp->stream_cls = es;
    resp->stream_free = stream_free;
    resp->content_type = "text/event-stream";
    return 0;
}

/* ---- the handler ----------------------------------------------------- */

int api_events_list(http_request *req, http_response *resp, cu_error **err)
{
    static const char *const booleans[] = {"true", "false", NULL};
    api_page page;
    events_filter f;
    const char *follow = http_query(req, "follow");
    if (api_page_parse(req, &page, err) < 0 || parse_filter(req, &f, err) < 0 ||
        (follow && validate_enum("follow", follow, booleans, err) < 0))
        return -1;
    if (follow && strcmp(follow, "true") == 0)
        return events_follow(req, resp, &page, &f, err);
    json_t *events = events_read(APP(req), &f, page.after, SEQ_MAX, page.limit + 1, err);
    if (events == NULL)
        return -1;
    _cleanup_free_ char *filters = NULL;
    if (asprintf(&filters, "%s%s%s%s%s%s", f.type ? "type=" : "", f.type ? f.type : "",
                 f.type ? "&" : "", f.target ? "target=" : "", f.target ? f.target : "",
                 f.target ? "&" : "") < 0)
        abort();
    api_page_respond(req, resp, "events", events, &page, filters);
    return 0;
}

void events_wake(void *app)
{
    ops_notify(app);
}
