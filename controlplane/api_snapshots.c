/* api_snapshots.c: /v1/vms/{id}/snapshots — take, list, show, delete and
 * restore a VM's snapshots (snapshots.h).  Each change is a new order for
 * the VM's host and an operation that ends when the host has carried it
 * out; like actions, one operation per VM at a time.
 *
 * A restore on a running VM: a snapshot with memory resumes the guest
 * where it was; one without stops the VM, reverts its disk and boots it
 * again.  Before it, a safety snapshot of the current state is taken
 * unless the body says {"safety_snapshot": false} (Multipass asks the same
 * question). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "cleanup.h"
#include "ids.h"
#include "image_export.h"
#include "json_util.h"
#include "ops.h"
#include "orders.h"
#include "schema.h"
#include "snapshots.h"
#include "store.h"
#include "validate.h"
#include "vms.h"

#define SNAPSHOTS_PER_VM 64

typedef json_t *(*mutation_fn)(cp_app *app, const json_t *vm, http_request *req, json_t **extra,
                               cu_error **err);

/* A VM whose disk can take an order about its snapshots now. */
static int check_vm(cp_app *app, const json_t *vm, cu_error **err)
{
    const char *name = cu_json_str(vm, "name"), *state = cu_json_str(vm, "state");
    if (strcmp(cu_json_str(vm, "desired_state"), "deleted") == 0)
        return cu_error_set(err, 409, CU_E_CONFLICT, NULL, "VM '%s' is being deleted", name);
    if (vm_refuse_busy(app, vm, err) < 0)
        return -1;
    if (cu_json_str(vm, "host_id") == NULL ||
        (strcmp(state, "running") != 0 && strcmp(state, "stopped") != 0))
        return cu_error_set(err, 409, CU_E_CONFLICT, NULL,
                            "VM '%s' is %s: its snapshots can change once it is running or "
                            "stopped",
                            name, state);
    return 0;
}

/* Runs one change in a transaction and answers 202 with its operation. */
static int mutate(http_request *req, http_response *resp, mutation_fn fn, cu_error **err)
{
    cp_app *app = APP(req);
    json_t *vm = NULL, *op = NULL, *extra = NULL;
    if (store_tx_begin(app->store, err) < 0)
        return -1;
    int r = vm_lookup(app, req->params[0], &vm, err);
    if (r == 0)
        api_not_found(err, "VM", req->params[0]);
    if (r == 1 && check_vm(app, vm, err) == 0)
        op = fn(app, vm, req, &extra, err);
    json_decref(vm);
    if (op == NULL || store_tx_commit(app->store, err) < 0) {
        if (op == NULL)
            store_tx_rollback(app->store);
        json_decref(op);
        json_decref(extra);
        return -1;
    }
    ops_notify(app);
    orders_kick(app);
    api_accepted(resp, op, extra);
    return 0;
}

/* A new generation of the VM's order; returns it, or -1. */
static long long bump(cp_app *app, const char *vm_id, cu_error **err)
{
    if (store_exec(app->store, err,
                   "UPDATE vms SET generation = generation + 1, next_push_at = 0,"
                   " push_attempts = 0, updated_at = " SQL_NOW " WHERE id = ?",
                   "s", vm_id) < 0)
        return -1;
    return store_int(app->store, -1, err, "SELECT generation FROM vms WHERE id = ?", "s", vm_id);
}

static json_t *snapshot_get(cp_app *app, const char *vm_id, const char *ref, cu_error **err)
{
    json_t *row = NULL;
    int r = store_get(app->store, &row, err,
                      SNAPSHOT_SELECT " WHERE s.vm_id = ?1 AND (s.id = ?2 OR s.name = ?2)", "ss",
                      vm_id, ref);
    if (r == 0)
        api_not_found(err, "snapshot", ref);
    return r == 1 ? snapshot_row_to_api(row) : NULL;
}

static int check_name(const char *name, cu_error **err)
{
    size_t n = strlen(name);
    int ok = n >= 1 && n <= 63;
    for (size_t i = 0; ok && i < n; i++)
        ok = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
             (name[i] >= '0' && name[i] <= '9') || strchr("._-", name[i]) != NULL;
    if (!ok || strncmp(name, "snap-", 5) == 0)
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "name",
                            "name must be 1 to 63 of letters, digits, '.', '_' and '-', and not "
                            "start with 'snap-' (ids do)");
    return 0;
}

/* Inserts a 'creating' snapshot for generation `gen`; returns its API row. */
static json_t *insert(cp_app *app, const json_t *vm, const char *name, int memory, long long gen,
                      cu_error **err)
{
    const char *vm_id = cu_json_str(vm, "id");
    long long n = store_int(app->store, 0, err, "SELECT count(*) FROM snapshots WHERE vm_id = ?",
                            "s", vm_id);
    if (n >= SNAPSHOTS_PER_VM) {
        cu_error_set(err, 409, CU_E_CONFLICT, NULL,
                     "VM '%s' has %lld snapshots, the most it may have; delete one first",
                     cu_json_str(vm, "name"), n);
        return NULL;
    }
    _cleanup_free_ char *id = cu_id_new("snap");
    if (store_exec(app->store, err,
                   "INSERT INTO snapshots (id, vm_id, name, memory, state, generation)"
                   " VALUES (?, ?, ?, ?, 'creating', ?)",
                   "sssii", id, vm_id, name, (long long)memory, gen) < 0) {
        api_exists_error(err, "name", "snapshot of this VM", name);
        return NULL;
    }
    return snapshot_get(app, vm_id, id, err);
}

static json_t *create(cp_app *app, const json_t *vm, http_request *req, json_t **extra,
                      cu_error **err)
{
    const json_t *b = req->body;
    const char *vm_id = cu_json_str(vm, "id");
    int memory = json_is_true(json_object_get(b, "memory"));
    if (memory && (strcmp(cu_json_str(vm, "state"), "running") != 0 ||
                   strcmp(cu_json_str(vm, "desired_state"), "running") != 0)) {
        cu_error_set(err, 409, CU_E_CONFLICT, "memory",
                     "VM '%s' is not running, so it has no memory to save; take a disk "
                     "snapshot (memory: false)",
                     cu_json_str(vm, "name"));
        return NULL;
    }
    char name[64];
    if (cu_json_str(b, "name")) {
        snprintf(name, sizeof(name), "%s", cu_json_str(b, "name"));
    } else {
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(name, sizeof(name), "%Y%m%d-%H%M%S", &tm);
    }
    long long gen = bump(app, vm_id, err);
    json_t *snap = gen < 0 ? NULL : insert(app, vm, name, memory, gen, err);
    if (snap == NULL)
        return NULL;
    char msg[160];
    snprintf(msg, sizeof(msg), "taking snapshot '%s'%s", name, memory ? " with memory" : "");
    json_t *op = ops_create_for_vm(app, "snapshot.create", vm_id, gen, msg, err);
    *extra = json_pack("{s:o}", "snapshot", snap);
    return op;
}

int api_snapshots_create(http_request *req, http_response *resp, cu_error **err)
{
    static const cu_json_field fields[] = {
        {"name", CU_JSON_STRING, false}, {"memory", CU_JSON_BOOLEAN, false}, {NULL}};
    const json_t *b = req->body;
    if (b && (cu_json_check_fields(b, fields, err) < 0 ||
              (cu_json_str(b, "name") && check_name(cu_json_str(b, "name"), err) < 0)))
        return -1;
    return mutate(req, resp, create, err);
}

/* The VM of a GET, by id or name (no transaction needed). */
static int read_vm(http_request *req, json_t **vm, cu_error **err)
{
    int r = vm_lookup(APP(req), req->params[0], vm, err);
    if (r == 0)
        api_not_found(err, "VM", req->params[0]);
    return r == 1 ? 0 : -1;
}

int api_snapshots_list(http_request *req, http_response *resp, cu_error **err)
{
    api_page page;
    json_t *vm = NULL;
    if (api_page_parse(req, &page, err) < 0 || read_vm(req, &vm, err) < 0)
        return -1;
    json_t *rows = store_list(APP(req)->store, err,
                              SNAPSHOT_SELECT " WHERE s.vm_id = ? AND s.seq > ? ORDER BY s.seq"
                                              " LIMIT ?",
                              "sii", cu_json_str(vm, "id"), page.after, page.limit + 1);
    json_decref(vm);
    if (rows == NULL)
        return -1;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        json_t *seq = json_incref(json_object_get(row, "_seq"));
        snapshot_row_to_api(row);
        json_object_set_new(row, "_seq", seq); /* the page cursor needs it */
    }
    api_page_respond(req, resp, "snapshots", rows, &page, "");
    return 0;
}

int api_snapshots_get(http_request *req, http_response *resp, cu_error **err)
{
    json_t *vm = NULL;
    if (read_vm(req, &vm, err) < 0)
        return -1;
    resp->body = snapshot_get(APP(req), cu_json_str(vm, "id"), req->params[1], err);
    json_decref(vm);
    return resp->body ? 0 : -1;
}

static json_t *delete(cp_app *app, const json_t *vm, http_request *req, json_t **extra,
                      cu_error **err)
{
    const char *vm_id = cu_json_str(vm, "id");
    json_t *snap = snapshot_get(app, vm_id, req->params[1], err);
    if (snap == NULL)
        return NULL;
    const char *id = cu_json_str(snap, "id"), *state = cu_json_str(snap, "state");
    *extra = json_pack("{s:o}", "snapshot", snap);
    if (strcmp(state, "error") == 0) { /* never made: nothing on the host to remove */
        if (store_exec(app->store, err, "DELETE FROM snapshots WHERE id = ?", "s", id) < 0)
            return NULL;
        return ops_create(app, "snapshot.delete", "vm", vm_id, "succeeded",
                          "deleted (the host had never made it)", err);
    }
    if (strcmp(state, "ready") != 0) {
        cu_error_set(err, 409, CU_E_CONFLICT, NULL, "snapshot '%s' is %s",
                     cu_json_str(snap, "name"), state);
        return NULL;
    }
    long long gen = bump(app, vm_id, err);
    if (gen < 0 || store_exec(app->store, err,
                              "UPDATE snapshots SET state = 'deleting', generation = ? WHERE id = ?",
                              "is", gen, id) < 0)
        return NULL;
    char msg[160];
    snprintf(msg, sizeof(msg), "deleting snapshot '%s'", cu_json_str(snap, "name"));
    return ops_create_for_vm(app, "snapshot.delete", vm_id, gen, msg, err);
}

int api_snapshots_delete(http_request *req, http_response *resp, cu_error **err)
{
    return mutate(req, resp, delete, err);
}

static json_t *restore(cp_app *app, const json_t *vm, http_request *req, json_t **extra,
                       cu_error **err)
{
    const char *vm_id = cu_json_str(vm, "id");
    const json_t *safety = json_object_get(req->body, "safety_snapshot");
    json_t *snap = snapshot_get(app, vm_id, req->params[1], err);
    if (snap == NULL)
        return NULL;
    *extra = json_pack("{s:o}", "snapshot", snap);
    if (strcmp(cu_json_str(snap, "state"), "ready") != 0) {
        cu_error_set(err, 409, CU_E_CONFLICT, NULL, "snapshot '%s' is %s, not ready",
                     cu_json_str(snap, "name"), cu_json_str(snap, "state"));
        return NULL;
    }
    long long gen = bump(app, vm_id, err);
    if (gen < 0)
        return NULL;
    _cleanup_free_ char *request = cu_id_new("restore"); /* carried out once */
    if (safety == NULL || json_is_true(safety)) {
        char name[64];
        snprintf(name, sizeof(name), "before-restore-%.12s", request + 8);
        json_t *s = insert(app, vm, name, 0, gen, err);
        if (s == NULL)
            return NULL;
        json_object_set_new(*extra, "safety_snapshot", s);
    }
    if (store_exec(app->store, err,
                   "UPDATE vms SET restore_request = ?, restore_snapshot = ? WHERE id = ?", "sss",
                   request, cu_json_str(snap, "id"), vm_id) < 0)
        return NULL;
    char msg[160];
    int memory = json_is_true(json_object_get(snap, "memory"));
    int running = strcmp(cu_json_str(vm, "state"), "running") == 0;
    snprintf(msg, sizeof(msg), "restoring snapshot '%s'%s", cu_json_str(snap, "name"),
             !running ? "" : memory ? ": the guest resumes where it was" : ": the VM restarts");
    return ops_create_for_vm(app, "snapshot.restore", vm_id, gen, msg, err);
}

int api_snapshots_restore(http_request *req, http_response *resp, cu_error **err)
{
    static const cu_json_field fields[] = {{"safety_snapshot", CU_JSON_BOOLEAN, false}, {NULL}};
    if (req->body && cu_json_check_fields(req->body, fields, err) < 0)
        return -1;
    return mutate(req, resp, restore, err);
}

/* POST /v1/snapshots/{id}/image {"name"}: the snapshot, flattened, as a new
 * image of the catalogue (image_export.h). */
int api_snapshots_image(http_request *req, http_response *resp, cu_error **err)
{
    static const cu_json_field fields[] = {{"name", CU_JSON_STRING, true}, {NULL}};
    cp_app *app = APP(req);
    const json_t *b = req->body;
    if (b == NULL)
        return cu_error_set(err, 400, CU_E_INVALID_JSON, NULL,
                            "send a JSON object: {\"name\": \"my-image\"}");
    if (cu_json_check_fields(b, fields, err) < 0 ||
        validate_dns_label("name", cu_json_str(b, "name"), err) < 0)
        return -1;
    json_t *snap = NULL, *vm = NULL, *image = NULL, *op = NULL;
    if (store_tx_begin(app->store, err) < 0)
        return -1;
    int r = store_get(app->store, &snap, err, SNAPSHOT_SELECT " WHERE s.id = ?", "s",
                      req->params[0]);
    if (r == 0)
        api_not_found(err, "snapshot", req->params[0]);
    if (r == 1 && strcmp(cu_json_str(snap, "state"), "ready") != 0)
        cu_error_set(err, 409, CU_E_CONFLICT, NULL, "snapshot '%s' is %s, not ready",
                     cu_json_str(snap, "name"), cu_json_str(snap, "state"));
    else if (r == 1 && vm_lookup(app, cu_json_str(snap, "vm_id"), &vm, err) == 1 &&
             strcmp(cu_json_str(vm, "desired_state"), "deleted") != 0)
        op = image_export_begin(app, vm, cu_json_str(snap, "id"), cu_json_str(b, "name"),
                                "snapshot", &image, err);
    else if (r == 1 && vm)
        cu_error_set(err, 409, CU_E_CONFLICT, NULL, "VM '%s' is being deleted",
                     cu_json_str(vm, "name"));
    json_decref(snap);
    json_decref(vm);
    if (op == NULL || store_tx_commit(app->store, err) < 0) {
        if (op == NULL) {
            store_tx_rollback(app->store);
            api_exists_error(err, "name", "image", cu_json_str(b, "name"));
        }
        json_decref(op);
        json_decref(image);
        return -1;
    }
    ops_notify(app);
    orders_kick(app);
    api_accepted(resp, op, json_pack("{s:o}", "image", image));
    return 0;
}
