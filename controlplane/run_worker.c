/* run_worker.c: what one run's worker does, start to end (runs.h): wait
 * for the VM's guest to be ready, then for SSH; copy the files; run the
 * command; then, whatever happened, destroy the VM through the normal
 * delete path and end the run once the VM is gone.
 *
 * The outcome is stored (result_state) before the VM is destroyed, so a
 * control plane that stops meanwhile ends the run the same way after its
 * restart.  At shutdown the worker asks for the VM's deletion and leaves;
 * the reconciler carries the order out, now or after the restart. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "json_util.h"
#include "log.h"
#include "loop.h"
#include "ops.h"
#include "run_private.h"
#include "runs.h"
#include "schema.h"
#include "store.h"
#include "vm_create.h"
#include "vms.h"

#define BOOT_WAIT_S 1200 /* the agent's own boot timeout (900 s) reports first */

typedef struct outcome {
    const char *state;   /* succeeded, failed, error */
    long long exit_code; /* -1: none */
    char *code, *message;
} outcome;

static void outcome_from_error(outcome *o, const char *state, cu_error *e)
{
    o->state = state;
    o->code = strdup(e->code);
    o->message = strdup(e->message);
}

/* A failure before or around the command: a cancel or a timeout fails
 * the run, anything else (boot, SSH, shutdown) is an error of the run. */
static void failed_with(outcome *o, cu_error *e)
{
    int user = strcmp(e->code, RUN_E_CANCELLED) == 0 || strcmp(e->code, RUN_E_TIMEOUT) == 0;
    outcome_from_error(o, user ? "failed" : "error", e);
}

/* Moves the run to `state` and its operation on (one transaction). */
static void progress(run_ctx *r, const char *state, long long pct, const char *message)
{
    _cleanup_error_ cu_error *err = NULL;
    cp_store *st = r->app->store;
    if (store_tx_begin(st, &err) == 0) {
        if (state)
            store_exec(st, &err, "UPDATE runs SET state = ?, updated_at = " SQL_NOW " WHERE id = ?",
                       "ss", state, r->id);
        if (r->op_id)
            ops_update(r->app, r->op_id, "running", pct, message, err ? NULL : &err);
        err ? store_tx_rollback(st) : (void)store_tx_commit(st, &err);
    }
    if (err)
        log_warn("run '%s': recording progress: %s", r->id, err->message);
    ops_notify(r->app);
}

/* ---- waiting for the guest ------------------------------------------ */

/* 1 the guest is ready (r->user, host, port set), 0 not yet, -1 never. */
static int guest_ready(run_ctx *r, char **last_msg, cu_error **err)
{
    json_t *vm = NULL, *op = NULL;
    int found = vm_lookup(r->app, r->vm_id, &vm, err);
    if (found < 0)
        return -1;
    if (found == 0 || strcmp(cu_json_str(vm, "desired_state"), "deleted") == 0) {
        json_decref(vm);
        return cu_error_set(err, 410, "vm_deleted", NULL,
                            "the run's VM '%s' was deleted before the command ran", r->vm_id);
    }
    int got = store_get(r->app->store, &op, err,
                        "SELECT status, message, error_code, error_message FROM operations"
                        " WHERE target_id = ? AND type = 'vm.create' ORDER BY seq DESC LIMIT 1",
                        "s", r->vm_id);
    int ret = got < 0 ? -1 : 0;
    const json_t *ssh = json_object_get(vm, "ssh");
    if (got == 1 && strcmp(cu_json_str(op, "status"), "failed") == 0) {
        const char *code = cu_json_str(op, "error_code");
        ret = cu_error_set(err, 502, code ? code : "boot_failed", NULL,
                           "the run's VM '%s' did not boot: %s", r->vm_id,
                           cu_json_str(op, "error_message") ? cu_json_str(op, "error_message")
                                                            : "no reason given");
    } else if (strcmp(cu_json_str(vm, "state"), "running") == 0 && json_is_object(ssh) &&
               cu_json_str(vm, "guest_state") &&
               strcmp(cu_json_str(vm, "guest_state"), "ready") == 0) {
        r->user = strdup(cu_json_str(ssh, "user"));
        r->host = strdup(cu_json_str(ssh, "host"));
        r->port = json_integer_value(json_object_get(ssh, "port"));
        ret = 1;
    } else if (got == 1 && cu_json_str(op, "message") &&
               (*last_msg == NULL || strcmp(*last_msg, cu_json_str(op, "message")) != 0)) {
        free(*last_msg);
        *last_msg = strdup(cu_json_str(op, "message"));
        _cleanup_free_ char *msg = NULL;
        if (asprintf(&msg, "booting the VM: %s", *last_msg) < 0)
            abort();
        progress(r, NULL, 10, msg);
    }
    json_decref(op);
    json_decref(vm);
    return ret;
}

static int wait_guest(run_ctx *r, cu_error **err)
{
    double deadline = cu_monotonic_s() + BOOT_WAIT_S;
    _cleanup_free_ char *last = NULL;
    for (;;) {
        int ready = guest_ready(r, &last, err);
        if (ready != 0)
            return ready < 0 ? -1 : 0;
        enum run_stop why = run_sleep(r, 1000);
        if (why == RUN_CANCELLED)
            return cu_error_set(err, 409, RUN_E_CANCELLED, NULL,
                                "cancelled by a DELETE of the run");
        if (why == RUN_SHUTDOWN)
            return cu_error_set(err, 503, RUN_E_INTERRUPTED, NULL,
                                "interrupted: the control plane stopped");
        if (cu_monotonic_s() >= deadline)
            return cu_error_set(err, 504, "boot_timeout", NULL,
                                "the run's VM '%s' was not ready within %d s", r->vm_id,
                                BOOT_WAIT_S);
    }
}

/* ---- the work -------------------------------------------------------- */

static int copy_files(run_ctx *r, const json_t *files, cu_error **err)
{
    size_t n = json_array_size(files);
    if (n == 0)
        return 0;
    char msg[64];
    snprintf(msg, sizeof(msg), "copying %zu file%s", n, n == 1 ? "" : "s");
    progress(r, "copying", 60, msg);
    for (size_t i = 0; i < n; i++) {
        const json_t *f = json_array_get(files, i);
        _cleanup_free_ char *local = NULL;
        if (asprintf(&local, "%s/files/%zu", r->dir, i) < 0)
            abort();
        if (run_ssh_copy(r, local, cu_json_str(f, "path"), cu_json_str(f, "mode"), err) < 0)
            return -1;
    }
    return 0;
}

static void attempt(run_ctx *r, outcome *o)
{
    _cleanup_error_ cu_error *err = NULL;
    json_t *run = NULL;
    progress(r, "booting", 10, "booting the VM");
    if (run_lookup(r->app, r->id, &run, &err) != 1 || wait_guest(r, &err) < 0)
        goto failed;
    progress(r, NULL, 40, "waiting for SSH");
    if (run_ssh_wait_ready(r, &err) < 0 || copy_files(r, json_object_get(run, "files"), &err) < 0)
        goto failed;
    progress(r, "running", 70, "running the command");
    store_exec(r->app->store, NULL, "UPDATE runs SET started_at = " SQL_NOW " WHERE id = ?", "s",
               r->id);
    int status = run_ssh_command(r, cu_json_str(run, "command"), &err);
    if (status < 0)
        goto failed;
    o->exit_code = status;
    o->state = status == 0 ? "succeeded" : "failed";
    if (status != 0) {
        o->code = strdup("command_failed");
        if (asprintf(&o->message, "the command exited with status %d", status) < 0)
            abort();
    }
    json_decref(run);
    return;
failed:
    if (err == NULL)
        cu_error_set(&err, 500, CU_E_INTERNAL, NULL, "run '%s' vanished from the store", r->id);
    failed_with(o, err);
    json_decref(run);
}

/* ---- the end --------------------------------------------------------- */

static void record_outcome(run_ctx *r, const outcome *o)
{
    _cleanup_error_ cu_error *err = NULL;
    if (store_exec(r->app->store, &err,
                   "UPDATE runs SET state = 'destroying', result_state = ?,"
                   " exit_code = NULLIF(?, -1), error_code = ?, error_message = ?,"
                   " updated_at = " SQL_NOW " WHERE id = ?",
                   "sisss", o->state, o->exit_code, o->code, o->message, r->id) < 0)
        log_error("run '%s': recording its outcome: %s", r->id, err->message);
    progress(r, NULL, 90, "destroying the VM");
}

static void load_outcome(run_ctx *r, outcome *o, json_t **row)
{
    _cleanup_error_ cu_error *err = NULL;
    if (store_get(r->app->store, row, &err,
                  "SELECT result_state, coalesce(exit_code, -1) AS exit_code, error_code,"
                  " error_message FROM runs WHERE id = ?",
                  "s", r->id) != 1) {
        o->state = "error";
        return;
    }
    o->state = cu_json_str(*row, "result_state") ? cu_json_str(*row, "result_state") : "error";
    o->exit_code = json_integer_value(json_object_get(*row, "exit_code"));
    o->code = cu_json_str(*row, "error_code") ? strdup(cu_json_str(*row, "error_code")) : NULL;
    o->message =
        cu_json_str(*row, "error_message") ? strdup(cu_json_str(*row, "error_message")) : NULL;
}

/* Asks for the VM's deletion until it is asked, then waits until it is
 * gone: 1 gone, 0 the control plane is stopping. */
static int destroy_vm(run_ctx *r)
{
    int asked = 0;
    for (;;) {
        _cleanup_error_ cu_error *err = NULL;
        if (!asked && vm_request_delete(r->app, r->vm_id, &err) >= 0)
            asked = 1;
        else if (!asked)
            log_warn("run '%s': deleting VM '%s': %s", r->id, r->vm_id, err->message);
        if (store_int(r->app->store, 1, NULL, "SELECT count(*) FROM vms WHERE id = ?", "s",
                      r->vm_id) == 0)
            return 1;
        if (run_sleep(r, 1000) == RUN_SHUTDOWN)
            return 0;
    }
}

/* Forgets what only the run needed (its key, the files); keeps output.log. */
static void tidy(run_ctx *r)
{
    static const char *const names[] = {"id_ed25519", "id_ed25519.pub", "ssh.log", NULL};
    for (const char *const *n = names; *n; n++) {
        _cleanup_free_ char *p = run_path(r->app, r->id, *n);
        unlink(p);
    }
    _cleanup_free_ char *files = run_path(r->app, r->id, "files");
    _cleanup_error_ cu_error *err = NULL;
    if (run_remove_tree(files, &err) < 0)
        log_warn("run '%s': %s", r->id, err->message);
}

static void finish(run_ctx *r, const outcome *o)
{
    _cleanup_error_ cu_error *err = NULL;
    cp_store *st = r->app->store;
    if (store_tx_begin(st, &err) == 0) {
        store_exec(st, &err,
                   "UPDATE runs SET state = ?, finished_at = " SQL_NOW ", updated_at = " SQL_NOW
                   " WHERE id = ?",
                   "ss", o->state, r->id);
        if (r->op_id && !err)
            ops_finish(r->app, r->op_id, strcmp(o->state, "succeeded") == 0 ? NULL : o->code,
                       o->message ? o->message : "the command exited with status 0", &err);
        err ? store_tx_rollback(st) : (void)store_tx_commit(st, &err);
    }
    if (err)
        log_error("run '%s': recording its end: %s", r->id, err->message);
    ops_notify(r->app);
    tidy(r);
    log_info("run '%s' %s (exit code %lld)", r->id, o->state, o->exit_code);
}

void run_work(run_ctx *r)
{
    outcome o = {.exit_code = -1};
    json_t *row = NULL;
    if (r->cleanup_only) {
        load_outcome(r, &o, &row);
    } else {
        attempt(r, &o);
        record_outcome(r, &o);
    }
    run_ignore_cancel(r);
    if (r->vm_id == NULL || destroy_vm(r))
        finish(r, &o);
    json_decref(row);
    free(o.code);
    free(o.message);
}
