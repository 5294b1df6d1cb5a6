/* ops.c: see ops.h.  Waiters sleep on one condition variable that every
 * change broadcasts; each rereads its operation from the store, which is
 * the only truth (so a waiter can never miss a change between read and
 * sleep: the generation counter is checked under the lock). */
#define _GNU_SOURCE
#include "ops.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "api_metrics.h"
#include "cleanup.h"
#include "ids.h"
#include "schema.h"

json_t *ops_row_to_api(json_t *row)
{
    const char *code = json_string_value(json_object_get(row, "error_code"));
    json_t *error = code ? json_pack("{s:s, s:O}", "code", code, "message",
                                     json_object_get(row, "error_message"))
                         : json_null();
    json_t *target = json_pack("{s:O, s:O}", "type", json_object_get(row, "target_type"), "id",
                               json_object_get(row, "target_id"));
    json_object_set_new(row, "target", target);
    json_object_set_new(row, "error", error);
    json_object_del(row, "target_type");
    json_object_del(row, "target_id");
    json_object_del(row, "error_code");
    json_object_del(row, "error_message");
    return row;
}

int ops_get(cp_app *app, const char *id, json_t **op, cu_error **err)
{
    json_t *row = NULL;
    int r = store_get(app->store, &row, err, "SELECT " OPS_COLUMNS " FROM operations WHERE id = ?",
                      "s", id);
    if (r == 1) {
        json_object_del(row, "_seq");
        *op = ops_row_to_api(row);
    }
    return r;
}

json_t *ops_create(cp_app *app, const char *type, const char *target_type, const char *target_id,
                   const char *status, const char *message, cu_error **err)
{
    _cleanup_free_ char *id = cu_id_new("op");
    int done = strcmp(status, "succeeded") == 0;
    if (store_exec(app->store, err,
                   "INSERT INTO operations (id, type, target_type, target_id, status, progress,"
                   " message, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?,"
                   " CASE WHEN ? THEN " SQL_NOW " END)",
                   "sssssisi", id, type, target_type, target_id, status, done ? 100LL : 0LL,
                   message, (long long)done) < 0)
        return NULL;
    json_t *op = NULL;
    if (ops_get(app, id, &op, err) != 1)
        return NULL;
    return op;
}

json_t *ops_create_for_vm(cp_app *app, const char *type, const char *vm_id, long long generation,
                          const char *message, cu_error **err)
{
    json_t *op = ops_create(app, type, "vm", vm_id, "pending", message, err);
    if (op == NULL)
        return NULL;
    if (store_exec(app->store, err, "UPDATE operations SET generation = ? WHERE id = ?", "is",
                   generation, json_string_value(json_object_get(op, "id"))) < 0) {
        json_decref(op);
        return NULL;
    }
    return op;
}

int ops_update(cp_app *app, const char *id, const char *status, long long progress,
               const char *message, cu_error **err)
{
    return store_exec(app->store, err,
                      "UPDATE operations SET status = ?, progress = max(progress, ?),"
                      " message = coalesce(?, message), updated_at = " SQL_NOW
                      " WHERE id = ? AND status IN ('pending','running')",
                      "siss", status, progress, message, id);
}

int ops_finish(cp_app *app, const char *id, const char *error_code, const char *message,
               cu_error **err)
{
    int r;
    if (error_code == NULL)
        r = store_exec(app->store, err,
                       "UPDATE operations SET status = 'succeeded', progress = 100,"
                       " message = coalesce(?, message), updated_at = " SQL_NOW
                       ", finished_at = " SQL_NOW
                       " WHERE id = ? AND status IN ('pending','running')",
                       "ss", message, id);
    else
        r = store_exec(app->store, err,
                       "UPDATE operations SET status = 'failed', error_code = ?,"
                       " error_message = ?, updated_at = " SQL_NOW ", finished_at = " SQL_NOW
                       " WHERE id = ? AND status IN ('pending','running')",
                       "sss", error_code, message, id);
    if (r > 0)
        cp_metrics_op_finished(app, id);
    return r;
}

int ops_find_in_flight(cp_app *app, const char *target_id, json_t **op, cu_error **err)
{
    json_t *row = NULL;
    int r = store_get(app->store, &row, err,
                      "SELECT " OPS_COLUMNS " FROM operations WHERE target_id = ?"
                      " AND status IN ('pending','running') ORDER BY seq LIMIT 1",
                      "s", target_id);
    if (r == 1) {
        json_object_del(row, "_seq");
        *op = ops_row_to_api(row);
    }
    return r;
}

int ops_fail_in_flight(cp_app *app, const char *target_id, const char *code,
                       const char *message, cu_error **err)
{
    return store_exec(app->store, err,
                      "UPDATE operations SET status = 'failed', error_code = ?,"
                      " error_message = ?, updated_at = " SQL_NOW ", finished_at = " SQL_NOW
                      " WHERE target_id = ? AND status IN ('pending','running')",
                      "sss", code, message, target_id);
}

void ops_notify(cp_app *app)
{
    pthread_mutex_lock(&app->ops_lock);
    app->ops_generation++;
    pthread_cond_broadcast(&app->ops_changed);
    pthread_mutex_unlock(&app->ops_lock);
}

static int op_ended(const json_t *op)
{
    const char *status = json_string_value(json_object_get(op, "status"));
    return status && (strcmp(status, "succeeded") == 0 || strcmp(status, "failed") == 0);
}

int ops_wait(cp_app *app, const char *id, long timeout_ms, json_t **op, cu_error **err)
{
    struct timespec deadline = cu_deadline_after((unsigned)timeout_ms);
    for (;;) {
        pthread_mutex_lock(&app->ops_lock);
        unsigned long seen = app->ops_generation;
        pthread_mutex_unlock(&app->ops_lock);

        json_t *cur = NULL;
        int r = ops_get(app, id, &cur, err);
        if (r <= 0)
            return r;
        if (op_ended(cur)) {
            *op = cur;
            return 1;
        }
        pthread_mutex_lock(&app->ops_lock);
        int rc = 0;
        while (app->ops_generation == seen && rc != ETIMEDOUT && !app->stopping)
            rc = pthread_cond_timedwait(&app->ops_changed, &app->ops_lock, &deadline);
        int stopping = app->stopping;
        pthread_mutex_unlock(&app->ops_lock);
        if (rc == ETIMEDOUT || stopping) {
            json_decref(cur);
            return ops_get(app, id, op, err);
        }
        json_decref(cur);
    }
}
