/* api_run_output.c: GET /v1/runs/{id}/output — what the run's command
 * wrote to stdout and stderr (runs/<id>/output.log), as text/plain.
 *
 * Without ?follow: the output so far.  With ?follow=true: a stream that
 * sends the output as it grows and ends when the run has ended (after
 * the last bytes), when the control plane stops, or when the run is
 * deleted.  Like the event stream (api_events.c) it holds its
 * connection's thread, so at most RUN_OUTPUT_STREAMS are open at once; it
 * sleeps on the operations' condition variable (every change of a run's
 * state wakes it) at most OUTPUT_POLL_MS, and looks each time whether its
 * client went away.  Unlike an event stream it has nothing to send while
 * idle (no comments in plain text), so its connection has no inactivity
 * timeout: a boot may keep it silent for minutes. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "cleanup.h"
#include "json_util.h"
#include "loop.h"
#include "runs.h"
#include "validate.h"

#define RUN_OUTPUT_STREAMS 64
#define OUTPUT_POLL_MS 250
#define TEXT "text/plain; charset=utf-8"

static int open_streams; /* atomic */

typedef struct output_stream {
    cp_app *app;
    char *id, *path;
    int fd, sock; /* the log (-1 until it exists), the client's socket */
    int ended;    /* the run has ended: send what is left, then end */
} output_stream;

static void stream_free(void *cls)
{
    output_stream *os = cls;
    if (os->fd >= 0)
        close(os->fd);
    free(os->id);
    free(os->path);
    free(os);
    __atomic_sub_fetch(&open_streams, 1, __ATOMIC_SEQ_CST);
}

/* 1 when the run has ended or is gone. */
static int run_over(output_stream *os)
{
    json_t *row = NULL;
    int r =
        store_get(os->app->store, &row, NULL, "SELECT state FROM runs WHERE id = ?", "s", os->id);
    int over = r == 0 || (r == 1 && run_state_final(cu_json_str(row, "state")));
    json_decref(row);
    return over;
}

/* Sleeps until something changed, OUTPUT_POLL_MS pass, or shutdown (1). */
static int nap(cp_app *app)
{
    struct timespec deadline = cu_deadline_after(OUTPUT_POLL_MS);
    pthread_mutex_lock(&app->ops_lock);
    unsigned long seen = app->ops_generation;
    int rc = 0;
    while (app->ops_generation == seen && !app->stopping && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&app->ops_changed, &app->ops_lock, &deadline);
    int stopping = app->stopping;
    pthread_mutex_unlock(&app->ops_lock);
    return stopping;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    output_stream *os = cls;
    for (;;) {
        if (os->fd < 0)
            os->fd = open(os->path, O_RDONLY | O_CLOEXEC);
        ssize_t n = os->fd >= 0 ? read(os->fd, buf, max) : 0;
        if (n > 0)
            return n;
        if (n < 0 && errno != EINTR)
            return HTTP_STREAM_ERROR;
        if (os->ended)
            return HTTP_STREAM_END;
        /* Seen over, then read once more: bytes written just before the
         * end are not lost. */
        if (run_over(os)) {
            os->ended = 1;
            continue;
        }
        if (http_socket_closed(os->sock))
            return HTTP_STREAM_ERROR;
        if (nap(os->app))
            return HTTP_STREAM_END;
    }
}

static int follow(http_request *req, http_response *resp, char *path, cu_error **err)
{
    if (__atomic_add_fetch(&open_streams, 1, __ATOMIC_SEQ_CST) > RUN_OUTPUT_STREAMS) {
        __atomic_sub_fetch(&open_streams, 1, __ATOMIC_SEQ_CST);
        free(path);
        return cu_error_set(err, 503, "too_many_streams", NULL,
                            "%d output streams are open already, the most the control plane "
                            "serves at once; close one or try again later",
                            RUN_OUTPUT_STREAMS);
    }
    output_stream *os = calloc(1, sizeof(*os));
    if (os == NULL)
        abort();
    os->app = APP(req);
    os->id = strdup(req->params[0]);
    os->path = path;
    os->fd = -1;
    os->sock = http_request_socket(req);
    http_request_no_timeout(req); /* silent while the VM boots; it checks its client itself */
    resp->stream = stream_read;
    resp->stream_cls = os;
    resp->stream_free = stream_free;
    resp->content_type = TEXT;
    return 0;
}

int api_runs_output(http_request *req, http_response *resp, cu_error **err)
{
    static const char *const booleans[] = {"true", "false", NULL};
    const char *f = http_query(req, "follow");
    if (f && validate_enum("follow", f, booleans, err) < 0)
        return -1;
    json_t *run = NULL;
    int r = run_lookup(APP(req), req->params[0], &run, err);
    json_decref(run);
    if (r <= 0)
        return r < 0 ? -1 : api_not_found(err, "run", req->params[0]);
    char *path = run_path(APP(req), req->params[0], "output.log");
    if (f && strcmp(f, "true") == 0)
        return follow(req, resp, path, err);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    struct stat st;
    resp->content_type = TEXT;
    if (fd >= 0 && fstat(fd, &st) == 0) {
        resp->file_fd = fd;
        resp->file_size = st.st_size;
        return 0;
    }
    if (fd >= 0)
        close(fd);
    resp->raw = ""; /* nothing written yet */
    resp->raw_len = 0;
    return 0;
}
