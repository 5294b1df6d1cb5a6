/* api_runs.c: /v1/runs — start a throwaway run (runs.h), list and get
 * runs, cancel one in flight or forget one that ended.  The output is
 * api_run_output.c.
 *
 * POST stores the run, its VM (an ordinary VM named after the run, with
 * run_id set, autostart never) and its operation in one transaction, so a
 * refused run (400, or 409 no_capacity) leaves nothing behind, then
 * starts the run's worker.  The run's SSH key pair is made first with
 * ssh-keygen; its public half goes into the VM's key copies, so the VM's
 * cloud-init installs it like any other key. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "cleanup.h"
#include "cmd.h"
#include "fsutil.h"
#include "ids.h"
#include "json_util.h"
#include "log.h"
#include "ops.h"
#include "orders.h"
#include "run_request.h"
#include "runs.h"
#include "sshkey.h"
#include "validate.h"
#include "vm_create.h"
#include "vms.h"

static const char *const run_states[] = {"pending",   "booting", "copying", "running", "destroying",
                                         "succeeded", "failed",  "error",   NULL};

/* The public half of the key pair made in `dir`, as the VM's key copy. */
static json_t *make_key(const char *dir, const char *run_id, cu_error **err)
{
    _cleanup_cmd_ cu_cmd *c = cu_cmd_new("ssh-keygen");
    cu_cmd_arg(c, "-q");
    cu_cmd_arg(c, "-t");
    cu_cmd_arg(c, "ed25519");
    cu_cmd_arg(c, "-N");
    cu_cmd_arg(c, "");
    cu_cmd_arg(c, "-C");
    cu_cmd_argf(c, "cumulus-%s", run_id);
    cu_cmd_arg(c, "-f");
    cu_cmd_argf(c, "%s/id_ed25519", dir);
    cu_cmd_timeout(c, 30);
    if (cu_cmd_run(c, err) < 0)
        return cu_error_wrap(err, "making the run's SSH key"), NULL;
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "%s/id_ed25519.pub", dir) < 0)
        abort();
    char text[1024] = "";
    _cleanup_fclose_ FILE *f = fopen(path, "r");
    if (f == NULL || fgets(text, sizeof(text), f) == NULL)
        return cu_error_errno(err, errno, "reading '%s'", path), NULL;
    sshkey_info key = {0};
    if (sshkey_parse(text, &key, err) < 0)
        return cu_error_wrap(err, "the key ssh-keygen made"), NULL;
    json_t *copy = json_pack("{s:s, s:s, s:s, s:s}", "id", run_id, "name", run_id, "fingerprint",
                             key.fingerprint, "public_key", key.normalized);
    sshkey_info_clear(&key);
    return copy;
}

/* Inserts the VM, the run and its operation (inside a transaction). */
static json_t *insert_run(cp_app *app, const char *id, const char *vm_id, const run_request *rr,
                          json_t *keys, cu_error **err)
{
    vm_request v = {.name = id,
                    .autostart = "never",
                    .size = rr->size,
                    .image = rr->image,
                    .keys = keys,
                    .run_id = id};
    /* Faster under emulation; the run's VM is never seen on a console. */
    if (cu_json_str(rr->image, "kernel_url"))
        v.boot = "kernel";
    json_t *vm_op = vm_insert(app, vm_id, &v, err);
    if (vm_op == NULL)
        return NULL;
    json_decref(vm_op);
    json_t *names = json_array();
    size_t i;
    json_t *k;
    json_array_foreach(rr->keys, i, k) json_array_append(names, json_object_get(k, "name"));
    _cleanup_free_ char *names_s = json_dumps(names, JSON_COMPACT);
    json_decref(names);
    json_t *files = run_request_files_json(rr);
    _cleanup_free_ char *files_s = json_dumps(files, JSON_COMPACT);
    json_decref(files);
    if (store_exec(app->store, err,
                   "INSERT INTO runs (id, image_id, image, size, command, timeout_s, files,"
                   " ssh_keys, state, vm_id) VALUES (?,?,?,?,?,?,?,?,'pending',?)",
                   "sssssisss", id, cu_json_str(rr->image, "id"), cu_json_str(rr->image, "name"),
                   cu_json_str(rr->size, "name"), rr->command, rr->timeout, files_s, names_s,
                   vm_id) < 0)
        return NULL;
    json_t *op = ops_create(app, "run", "run", id, "pending", "booting the VM", err);
    if (op && store_exec(app->store, err, "UPDATE runs SET operation_id = ? WHERE id = ?", "ss",
                         cu_json_str(op, "id"), id) < 0) {
        json_decref(op);
        return NULL;
    }
    return op;
}

/* The run's directory, key and files, then the rows; the operation. */
static json_t *create_run(cp_app *app, const char *id, const char *vm_id, const run_request *rr,
                          cu_error **err)
{
    _cleanup_free_ char *dir = run_path(app, id, NULL);
    if (cu_mkdir_p(dir, 0700, err) < 0 || run_request_write_files(rr, dir, err) < 0)
        return NULL;
    json_t *key = make_key(dir, id, err);
    if (key == NULL)
        return NULL;
    json_t *keys = json_copy(rr->keys);
    json_array_append_new(keys, key);
    json_t *op = NULL;
    if (store_tx_begin(app->store, err) == 0) {
        op = insert_run(app, id, vm_id, rr, keys, err);
        if (op == NULL)
            store_tx_rollback(app->store);
        else if (store_tx_commit(app->store, err) < 0)
            op = (json_decref(op), NULL);
    }
    json_decref(keys);
    return op;
}

int api_runs_create(http_request *req, http_response *resp, cu_error **err)
{
    cp_app *app = APP(req);
    run_request rr = {0};
    _cleanup_free_ char *id = cu_id_new("run");
    _cleanup_free_ char *vm_id = cu_id_new("vm");
    json_t *op = run_request_parse(app, req->body, &rr, err) < 0
                     ? NULL
                     : create_run(app, id, vm_id, &rr, err);
    run_request_clear(&rr);
    if (op == NULL) {
        _cleanup_free_ char *dir = run_path(app, id, NULL);
        run_remove_tree(dir, NULL);
        return -1;
    }
    ops_notify(app);
    orders_kick(app);
    _cleanup_error_ cu_error *serr = NULL;
    if (runs_spawn(app, id, &serr) < 0) /* stored: the next start picks it up */
        log_warn("run '%s': %s", id, serr->message);
    json_t *run = NULL, *vm = NULL;
    if (run_lookup(app, id, &run, err) != 1 || vm_lookup(app, vm_id, &vm, err) != 1) {
        json_decref(run);
        json_decref(op);
        return *err ? -1 : cu_error_set(err, 500, CU_E_INTERNAL, NULL, "run '%s' vanished", id);
    }
    api_accepted(resp, op, json_pack("{s:o, s:o}", "run", run, "vm", vm));
    return 0;
}

int api_runs_list(http_request *req, http_response *resp, cu_error **err)
{
    api_page page;
    const char *state = http_query(req, "state");
    if (api_page_parse(req, &page, err) < 0 ||
        (state && validate_enum("state", state, run_states, err) < 0))
        return -1;
    json_t *rows = store_list(APP(req)->store, err,
                              RUN_SELECT " WHERE (?1 IS NULL OR state = ?1) AND seq > ?2"
                                         " ORDER BY seq LIMIT ?3",
                              "sii", state, page.after, page.limit + 1);
    if (rows == NULL)
        return -1;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        json_t *seq = json_incref(json_object_get(row, "_seq"));
        run_row_to_api(APP(req), row);
        json_object_set_new(row, "_seq", seq); /* the page cursor needs it */
    }
    _cleanup_free_ char *filters = NULL;
    if (asprintf(&filters, "%s%s%s", state ? "state=" : "", state ? state : "", state ? "&" : "") <
        0)
        abort();
    api_page_respond(req, resp, "runs", rows, &page, filters);
    return 0;
}

int api_runs_get(http_request *req, http_response *resp, cu_error **err)
{
    int r = run_lookup(APP(req), req->params[0], &resp->body, err);
    if (r == 0)
        return api_not_found(err, "run", req->params[0]);
    return r < 0 ? -1 : 0;
}

/* A run that ended: its record and output go (204). */
static int forget(cp_app *app, const char *id, cu_error **err)
{
    if (store_exec(app->store, err,
                   "DELETE FROM runs WHERE id = ? AND state IN ('succeeded','failed','error')", "s",
                   id) < 0)
        return -1;
    _cleanup_free_ char *dir = run_path(app, id, NULL);
    if (run_remove_tree(dir, err) < 0)
        return -1;
    return 0;
}

/* A run in flight is cancelled (202 with its operation, which ends once
 * the VM is gone); one that ended is forgotten (204). */
int api_runs_delete(http_request *req, http_response *resp, cu_error **err)
{
    cp_app *app = APP(req);
    json_t *run = NULL, *op = NULL;
    int r = run_lookup(app, req->params[0], &run, err);
    if (r <= 0)
        return r < 0 ? -1 : api_not_found(err, "run", req->params[0]);
    if (run_state_final(cu_json_str(run, "state"))) {
        json_decref(run);
        return forget(app, req->params[0], err);
    }
    if (!runs_cancel(app, req->params[0]))
        log_warn("run '%s' is in flight without a worker; it ends at the next start",
                 req->params[0]);
    r = ops_get(app, cu_json_str(run, "operation_id"), &op, err);
    if (r <= 0) {
        json_decref(run);
        return r < 0 ? -1
                     : cu_error_set(err, 500, CU_E_INTERNAL, NULL, "run '%s' has no operation",
                                    req->params[0]);
    }
    api_accepted(resp, op, json_pack("{s:o}", "run", run));
    return 0;
}
