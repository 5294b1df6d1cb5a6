/* runs.c: the workers of runs in flight (see runs.h), one detached thread
 * each, kept in a list under one lock so a cancel or shutdown can reach
 * them; picking up after a restart; a run row in the API's shape.
 *
 * A worker never sleeps on anything but the registry's condition
 * variable (run_sleep), so a cancel or a shutdown wakes it at once; the
 * ssh it runs is killed from its own loop (run_ssh.c).  runs_stop() waits
 * until every worker has left the list. */
#define _GNU_SOURCE
#include "runs.h"

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cleanup.h"
#include "json_util.h"
#include "log.h"
#include "loop.h"
#include "run_private.h"
#include "schema.h"
#include "store.h"

struct cp_runs {
    pthread_mutex_t lock;
    pthread_cond_t wake; /* CLOCK_MONOTONIC; broadcast on cancel and stop */
    run_ctx *list;
    int stopping;
};

static enum run_stop why_locked(const struct cp_runs *rs, const run_ctx *r)
{
    return rs->stopping ? RUN_SHUTDOWN : r->cancel && !r->destroying ? RUN_CANCELLED : RUN_GO;
}

void run_ignore_cancel(run_ctx *r)
{
    struct cp_runs *rs = r->app->runs;
    pthread_mutex_lock(&rs->lock);
    r->destroying = 1;
    pthread_mutex_unlock(&rs->lock);
}

enum run_stop run_interrupted(run_ctx *r)
{
    struct cp_runs *rs = r->app->runs;
    pthread_mutex_lock(&rs->lock);
    enum run_stop why = why_locked(rs, r);
    pthread_mutex_unlock(&rs->lock);
    return why;
}

enum run_stop run_sleep(run_ctx *r, unsigned ms)
{
    struct cp_runs *rs = r->app->runs;
    struct timespec deadline = cu_deadline_after(ms);
    pthread_mutex_lock(&rs->lock);
    int rc = 0;
    while (why_locked(rs, r) == RUN_GO && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&rs->wake, &rs->lock, &deadline);
    enum run_stop why = why_locked(rs, r);
    pthread_mutex_unlock(&rs->lock);
    return why;
}

char *run_path(const cp_app *app, const char *run_id, const char *file)
{
    char *p = NULL;
    if (asprintf(&p, "%s/runs/%s%s%s", app->data_dir, run_id, file ? "/" : "", file ? file : "") <
        0)
        abort();
    return p;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return (flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT ? -1 : 0;
}

int run_remove_tree(const char *path, cu_error **err)
{
    if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
        return cu_error_errno(err, errno, "removing '%s'", path);
    return 0;
}

/* ---- the workers ----------------------------------------------------- */

static void ctx_free(run_ctx *r)
{
    free(r->id);
    free(r->dir);
    free(r->vm_id);
    free(r->op_id);
    free(r->user);
    free(r->host);
    free(r);
}

static void *worker_main(void *arg)
{
    run_ctx *r = arg;
    run_work(r);
    struct cp_runs *rs = r->app->runs;
    pthread_mutex_lock(&rs->lock);
    for (run_ctx **p = &rs->list; *p; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            break;
        }
    pthread_cond_broadcast(&rs->wake); /* runs_stop waits for an empty list */
    pthread_mutex_unlock(&rs->lock);
    ctx_free(r);
    return NULL;
}

static int spawn(cp_app *app, const json_t *row, int cleanup_only, cu_error **err)
{
    struct cp_runs *rs = app->runs;
    run_ctx *r = calloc(1, sizeof(*r));
    if (r == NULL)
        abort();
    r->app = app;
    r->id = strdup(cu_json_str(row, "id"));
    r->dir = run_path(app, r->id, NULL);
    r->vm_id = cu_json_str(row, "vm_id") ? strdup(cu_json_str(row, "vm_id")) : NULL;
    r->op_id = cu_json_str(row, "operation_id") ? strdup(cu_json_str(row, "operation_id")) : NULL;
    r->timeout_s = json_integer_value(json_object_get(row, "timeout"));
    r->cleanup_only = cleanup_only;
    pthread_mutex_lock(&rs->lock);
    int ok = !rs->stopping;
    for (run_ctx *o = rs->list; ok && o; o = o->next)
        ok = strcmp(o->id, r->id) != 0;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    int rc = ok ? pthread_create(&t, &attr, worker_main, r) : 0;
    pthread_attr_destroy(&attr);
    if (ok && rc == 0) {
        r->next = rs->list;
        rs->list = r;
    }
    pthread_mutex_unlock(&rs->lock);
    if (ok && rc == 0)
        return 0;
    ctx_free(r);
    if (!ok)
        return cu_error_set(err, 503, CU_E_BUSY, NULL,
                            "the control plane is stopping (or run '%s' has a worker already)",
                            cu_json_str(row, "id"));
    return cu_error_errno(err, rc, "starting the worker of run '%s'", cu_json_str(row, "id"));
}

int runs_spawn(cp_app *app, const char *run_id, cu_error **err)
{
    json_t *row = NULL;
    int r = run_lookup(app, run_id, &row, err);
    if (r == 0)
        return cu_error_set(err, 404, CU_E_NOT_FOUND, NULL, "no run '%s'", run_id);
    if (r < 0)
        return -1;
    r = spawn(app, row, 0, err);
    json_decref(row);
    return r;
}

int runs_cancel(cp_app *app, const char *run_id)
{
    struct cp_runs *rs = app->runs;
    int found = 0;
    pthread_mutex_lock(&rs->lock);
    for (run_ctx *r = rs->list; r; r = r->next)
        if (strcmp(r->id, run_id) == 0) {
            r->cancel = 1;
            found = 1;
        }
    pthread_cond_broadcast(&rs->wake);
    pthread_mutex_unlock(&rs->lock);
    return found;
}

/* Runs a previous process left in flight keep the outcome they had, if
 * any; the others end as error.  Either way their VM is destroyed first. */
static int pick_up(cp_app *app, cu_error **err)
{
    if (store_exec(app->store, err,
                   "UPDATE runs SET state = 'destroying', result_state = coalesce(result_state,"
                   " 'error'), error_code = CASE WHEN result_state IS NULL THEN 'interrupted'"
                   " ELSE error_code END, error_message = CASE WHEN result_state IS NULL THEN"
                   " 'interrupted by a control plane restart' ELSE error_message END,"
                   " updated_at = " SQL_NOW " WHERE state NOT IN ('succeeded','failed','error')",
                   "") < 0)
        return -1;
    json_t *rows = store_list(app->store, err, RUN_SELECT " WHERE state = 'destroying'", "");
    if (rows == NULL)
        return -1;
    size_t i;
    json_t *row;
    int r = 0;
    json_array_foreach(rows, i, row)
    {
        log_info("run '%s' was in flight when the control plane stopped: destroying its VM",
                 cu_json_str(row, "id"));
        if (r == 0)
            r = spawn(app, row, 1, err);
    }
    json_decref(rows);
    return r;
}

int runs_start(cp_app *app, cu_error **err)
{
    struct cp_runs *rs = calloc(1, sizeof(*rs));
    if (rs == NULL)
        abort();
    pthread_mutex_init(&rs->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&rs->wake, &ca);
    pthread_condattr_destroy(&ca);
    app->runs = rs;
    _cleanup_free_ char *dir = NULL;
    if (asprintf(&dir, "%s/runs", app->data_dir) < 0)
        abort();
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return cu_error_errno(err, errno, "creating '%s'", dir);
    if (pick_up(app, err) < 0)
        return cu_error_wrap(err, "picking up the runs in flight");
    return 0;
}

void runs_stop(cp_app *app)
{
    struct cp_runs *rs = app->runs;
    if (rs == NULL)
        return;
    pthread_mutex_lock(&rs->lock);
    rs->stopping = 1;
    pthread_cond_broadcast(&rs->wake);
    while (rs->list)
        pthread_cond_wait(&rs->wake, &rs->lock);
    pthread_mutex_unlock(&rs->lock);
}

void runs_free(cp_app *app)
{
    struct cp_runs *rs = app->runs;
    if (rs == NULL)
        return;
    runs_stop(app);
    pthread_cond_destroy(&rs->wake);
    pthread_mutex_destroy(&rs->lock);
    free(rs);
    app->runs = NULL;
}

/* ---- reading runs ---------------------------------------------------- */

int run_state_final(const char *state)
{
    return strcmp(state, "succeeded") == 0 || strcmp(state, "failed") == 0 ||
           strcmp(state, "error") == 0;
}

json_t *run_row_to_api(const cp_app *app, json_t *row)
{
    json_object_del(row, "_seq");
    const char *code = cu_json_str(row, "error_code");
    json_object_set_new(row, "error",
                        code ? json_pack("{s:s, s:O}", "code", code, "message",
                                         json_object_get(row, "error_message"))
                             : json_null());
    json_object_del(row, "error_code");
    json_object_del(row, "error_message");
    _cleanup_free_ char *log = run_path(app, cu_json_str(row, "id"), "output.log");
    struct stat st;
    json_object_set_new(row, "output_bytes", json_integer(stat(log, &st) == 0 ? st.st_size : 0));
    return row;
}

int run_lookup(cp_app *app, const char *id, json_t **run, cu_error **err)
{
    json_t *row = NULL;
    int r = store_get(app->store, &row, err, RUN_SELECT " WHERE id = ?", "s", id);
    if (r == 1)
        *run = run_row_to_api(app, row);
    return r;
}
