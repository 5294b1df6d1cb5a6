/* api_vms.c: /v1/vms — create, list, get and delete VMs, and show the
 * cloud-init seed each one boots with.  Actions (start, stop, ...) are in
 * api_vm_actions.c.
 *
 * A VM is placed on a host at create (scheduler.h) or refused at once,
 * and stored with its desired state; the host's agent brings the actual
 * state to it and reports back.  Until the host takes the order, the VM
 * is `pending` and so is its create operation. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cleanup.h"
#include "cloudinit.h"
#include "ids.h"
#include "json_util.h"
#include "ops.h"
#include "orders.h"
#include "scheduler.h"
#include "schema.h"
#include "validate.h"
#include "vm_create.h"
#include "vms.h"

static const char *const vm_states[] = {"pending", "provisioning", "running", "stopped",
                                        "deleting", "error", "unknown", NULL};

int api_vms_list(http_request *req, http_response *resp, cu_error **err)
{
    api_page page;
    const char *state = http_query(req, "state");
    const char *host = http_query(req, "host");
    if (api_page_parse(req, &page, err) < 0 ||
        (state && validate_enum("state", state, vm_states, err) < 0) ||
        (host && validate_dns_label("host", host, err) < 0))
        return -1;
    json_t *rows = store_list(APP(req)->store, err,
                              VM_SELECT " WHERE (?1 IS NULL OR v.state = ?1)"
                                        " AND (?2 IS NULL OR h.id = ?2 OR h.name = ?2)"
                                        " AND v.seq > ?3 ORDER BY v.seq LIMIT ?4",
                              "ssii", state, host, page.after, page.limit + 1);
    if (rows == NULL)
        return -1;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        json_t *seq = json_incref(json_object_get(row, "_seq"));
        vm_row_to_api(row);
        json_object_set_new(row, "_seq", seq); /* the page cursor needs it */
    }
    _cleanup_free_ char *filters = NULL;
    if (asprintf(&filters, "%s%s%s%s%s%s", state ? "state=" : "", state ? state : "",
                 state ? "&" : "", host ? "host=" : "", host ? host : "", host ? "&" : "") < 0)
        abort();
    api_page_respond(req, resp, "vms", rows, &page, filters);
    return 0;
}

int api_vms_get(http_request *req, http_response *resp, cu_error **err)
{
    int r = vm_lookup(APP(req), req->params[0], &resp->body, err);
    if (r == 0)
        return api_not_found(err, "VM", req->params[0]);
    return r < 0 ? -1 : 0;
}

/* Finds a row of `table` by id or name for a field of the create request;
 * an unknown reference is the client's mistake (400 naming the field). */
static json_t *lookup_ref(cp_app *app, const char *sql, const char *field, const char *ref,
                          const char *listing, cu_error **err)
{
    json_t *row = NULL;
    int r = store_get(app->store, &row, err, sql, "s", ref);
    if (r == 0)
        cu_error_set(err, 400, CU_E_INVALID_FIELD, field, "no %s '%s' (see GET %s)", field, ref,
                     listing);
    return r == 1 ? row : NULL;
}

/* Resolves ssh_keys (ids, names or fingerprints) to the copies a VM keeps. */
static json_t *resolve_keys(cp_app *app, const json_t *refs, cu_error **err)
{
    json_t *keys = json_array();
    size_t i;
    json_t *ref;
    json_array_foreach(refs, i, ref)
    {
        json_t *key = lookup_ref(app,
                                 "SELECT id, name, fingerprint, public_key FROM ssh_keys"
                                 " WHERE id = ?1 OR name = ?1 OR fingerprint = ?1",
                                 "ssh_keys", json_string_value(ref), "/v1/ssh-keys", err);
        if (key == NULL) {
            json_decref(keys);
            return NULL;
        }
        int dup = 0;
        size_t j;
        json_t *k;
        json_array_foreach(keys, j, k) dup |= json_equal(k, key);
        if (dup)
            json_decref(key);
        else
            json_array_append_new(keys, key);
    }
    return keys;
}

static void vm_request_clear(vm_request *v)
{
    json_decref(v->size);
    json_decref(v->image);
    json_decref(v->keys);
}

static int check_create(cp_app *app, const json_t *b, vm_request *v, cu_error **err)
{
    static const cu_json_field fields[] = {
        {"name", CU_JSON_STRING, true},  {"size", CU_JSON_STRING, true},
        {"image", CU_JSON_STRING, true}, {"ssh_keys", CU_JSON_STRING_ARRAY, false},
        {"user_data", CU_JSON_STRING, false}, {"boot", CU_JSON_STRING, false},
        {"host", CU_JSON_STRING, false}, {"autostart", CU_JSON_STRING, false}, {NULL}};
    static const char *const autostarts[] = {"always", "never", "last", NULL};
    static const char *const boots[] = {"uefi", "kernel", NULL};
    if (b == NULL)
        return cu_error_set(err, 400, CU_E_INVALID_JSON, NULL,
                            "send a JSON object: {\"name\", \"size\", \"image\", \"ssh_keys\"}");
    if (cu_json_check_fields(b, fields, err) < 0)
        return -1;
    v->name = cu_json_str(b, "name");
    v->user_data = cu_json_str(b, "user_data");
    v->boot = cu_json_str(b, "boot");
    v->host = cu_json_str(b, "host");
    v->autostart = cu_json_str(b, "autostart");
    json_t *refs = json_object_get(b, "ssh_keys");
    if (validate_dns_label("name", v->name, err) < 0 ||
        !(v->size = lookup_ref(app, "SELECT * FROM sizes WHERE id = ?1 OR name = ?1", "size",
                               cu_json_str(b, "size"), "/v1/sizes", err)) ||
        !(v->image = lookup_ref(app, "SELECT * FROM images WHERE id = ?1 OR name = ?1", "image",
                                cu_json_str(b, "image"), "/v1/images", err)) ||
        !(v->keys = resolve_keys(app, json_is_array(refs) ? refs : NULL, err)))
        return -1;
    if (strcmp(cu_json_str(v->image, "state") ?: "ready", "ready") != 0)
        return cu_error_set(err, 409, CU_E_CONFLICT, "image",
                            "image '%s' is %s: VMs can be made from it once it is ready",
                            cu_json_str(v->image, "name"), cu_json_str(v->image, "state"));
    if (json_array_size(v->keys) == 0 && v->user_data == NULL)
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "ssh_keys",
                            "give at least one SSH key (or user_data that sets up your own "
                            "access): without one nobody can log in to the VM");
    if (v->user_data && cloudinit_check_user_data(v->user_data, strlen(v->user_data), err) < 0)
        return -1;
    if ((v->boot && validate_enum("boot", v->boot, boots, err) < 0) ||
        (v->autostart && validate_enum("autostart", v->autostart, autostarts, err) < 0))
        return -1;
    if (v->boot && strcmp(v->boot, "kernel") == 0 && !cu_json_str(v->image, "kernel_url"))
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "boot",
                            "image '%s' has no kernel for direct kernel boot; use \"boot\": "
                            "\"uefi\"",
                            cu_json_str(v->image, "name"));
    return 0;
}

/* Places the VM (see scheduler.h) and inserts it with its create operation. */
static json_t *insert_vm(cp_app *app, const char *id, const vm_request *v, cu_error **err)
{
    const json_t *s = v->size;
    sched_request sr = {.vcpus = json_integer_value(json_object_get(s, "vcpus")),
                        .memory_mib = json_integer_value(json_object_get(s, "memory_mib")),
                        .disk_gib = json_integer_value(json_object_get(s, "disk_gib")),
                        .architecture = cu_json_str(v->image, "architecture"),
                        .size_name = cu_json_str(s, "name"),
                        .pin = v->host};
    _cleanup_free_ char *host = NULL;
    if (scheduler_place(app, &sr, &host, err) < 0)
        return NULL;
    _cleanup_free_ char *keys = json_dumps(v->keys, JSON_COMPACT);
    if (store_exec(app->store, err,
                   "INSERT INTO vms (id, name, size, vcpus, memory_mib, disk_gib, image_id,"
                   " ssh_keys, user_data, boot, autostart, desired_state, state, host_id, run_id,"
                   " bake_image, bake_deadline)"
                   " VALUES (?,?,?,?,?,?,?,?,?,?,?,'running','pending',?,?,?,NULLIF(?, 0))",
                   "sssiiissssssssi", id, v->name, sr.size_name, sr.vcpus, sr.memory_mib,
                   sr.disk_gib, cu_json_str(v->image, "id"), keys, v->user_data, v->boot,
                   v->autostart ? v->autostart : "last", host, v->run_id, v->bake_image,
                   v->bake_deadline) < 0) {
        api_exists_error(err, "name", "VM", v->name);
        return NULL;
    }
    return ops_create_for_vm(app, "vm.create", id, 1, "placed; sending the order to its host",
                             err);
}

int api_vms_create(http_request *req, http_response *resp, cu_error **err)
{
    cp_app *app = APP(req);
    vm_request v = {0};
    _cleanup_free_ char *id = cu_id_new("vm");
    if (check_create(app, req->body, &v, err) < 0 || store_tx_begin(app->store, err) < 0) {
        vm_request_clear(&v);
        return -1;
    }
    json_t *op = insert_vm(app, id, &v, err);
    vm_request_clear(&v);
    if (op == NULL) {
        store_tx_rollback(app->store);
        return -1;
    }
    if (store_tx_commit(app->store, err) < 0) {
        json_decref(op);
        return -1;
    }
    ops_notify(app);
    orders_kick(app);
    json_t *vm = NULL;
    if (vm_lookup(app, id, &vm, err) != 1) {
        json_decref(op);
        return -1;
    }
    api_accepted(resp, op, json_pack("{s:o}", "vm", vm));
    return 0;
}

/* Deleting is always allowed, even while another operation runs: a user
 * must be able to get rid of a VM stuck provisioning.  The operation in
 * flight ends as failed ("cancelled").  A VM no host has taken yet is gone
 * at once; otherwise its host's agent must destroy it first. */
static json_t *delete_vm(cp_app *app, const json_t *vm, cu_error **err)
{
    const char *id = cu_json_str(vm, "id");
    int placed = cu_json_str(vm, "host_id") != NULL;
    if (ops_fail_in_flight(app, id, "cancelled", "cancelled: the VM is being deleted", err) < 0)
        return NULL;
    if (!placed)
        return store_exec(app->store, err, "DELETE FROM vms WHERE id = ?", "s", id) < 0
                   ? NULL
                   : ops_create(app, "vm.delete", "vm", id, "succeeded",
                                "deleted (no host had taken the VM yet)", err);
    if (store_exec(app->store, err,
                   "UPDATE vms SET desired_state = 'deleted', state = 'deleting',"
                   " generation = generation + 1, next_push_at = 0, push_attempts = 0,"
                   " updated_at = " SQL_NOW " WHERE id = ?",
                   "s", id) < 0)
        return NULL;
    long long gen = store_int(app->store, 0, err, "SELECT generation FROM vms WHERE id = ?", "s", id);
    return ops_create_for_vm(app, "vm.delete", id, gen, "waiting for the host to destroy it", err);
}

int api_vms_delete(http_request *req, http_response *resp, cu_error **err)
{
    cp_app *app = APP(req);
    json_t *vm = NULL, *op = NULL;
    if (store_tx_begin(app->store, err) < 0)
        return -1;
    int r = vm_lookup(app, req->params[0], &vm, err);
    if (r == 1 && strcmp(cu_json_str(vm, "desired_state"), "deleted") == 0 &&
        ops_find_in_flight(app, cu_json_str(vm, "id"), &op, err) == 1) {
        cu_error_set(err, 409, CU_E_BUSY, NULL,
                     "VM '%s' is already being deleted by operation '%s'", req->params[0],
                     cu_json_str(op, "id"));
        json_decref(op);
        op = NULL;
    } else if (r == 1) {
        op = delete_vm(app, vm, err);
    } else if (r == 0) {
        api_not_found(err, "VM", req->params[0]);
    }
    json_decref(vm);
    if (op == NULL) {
        store_tx_rollback(app->store);
        return -1;
    }
    if (store_tx_commit(app->store, err) < 0) {
        json_decref(op);
        return -1;
    }
    ops_notify(app);
    orders_kick(app);
    api_accepted(resp, op, NULL);
    return 0;
}

int api_vms_cloud_init(http_request *req, http_response *resp, cu_error **err)
{
    _cleanup_free_ char *meta = NULL, *user = NULL;
    if (vm_render_cloud_init(APP(req), req->params[0], &meta, &user, err) < 0)
        return -1;
    resp->body = json_pack("{s:s, s:s}", "meta_data", meta, "user_data", user);
    return 0;
}

/* ---- for VMs the control plane makes itself (vm_create.h) ------------ */

int api_resolve_vm_parts(cp_app *app, const json_t *body, const char *purpose, json_t **image,
                         json_t **size, json_t **keys, cu_error **err)
{
    json_t *refs = json_object_get(body, "ssh_keys");
    if (!(*image = lookup_ref(app, "SELECT * FROM images WHERE id = ?1 OR name = ?1", "image",
                              cu_json_str(body, "image"), "/v1/images", err)) ||
        !(*size = lookup_ref(app, "SELECT * FROM sizes WHERE id = ?1 OR name = ?1", "size",
                             cu_json_str(body, "size"), "/v1/sizes", err)) ||
        !(*keys = resolve_keys(app, json_is_array(refs) ? refs : NULL, err)))
        return -1;
    if (strcmp(cu_json_str(*image, "state") ?: "ready", "ready") != 0)
        return cu_error_set(err, 409, CU_E_CONFLICT, "image", "image '%s' is %s: %s once it is ready",
                            cu_json_str(*image, "name"), cu_json_str(*image, "state"), purpose);
    return 0;
}

json_t *vm_insert(cp_app *app, const char *id, const vm_request *v, cu_error **err)
{
    return insert_vm(app, id, v, err);
}

int vm_request_delete_in_tx(cp_app *app, const char *vm_id, cu_error **err)
{
    json_t *vm = NULL, *op = NULL;
    int r = vm_lookup(app, vm_id, &vm, err);
    if (r == 1 && strcmp(cu_json_str(vm, "desired_state"), "deleted") != 0)
        r = (op = delete_vm(app, vm, err)) ? 1 : -1;
    else if (r == 1)
        r = 0;
    json_decref(vm);
    json_decref(op);
    return r;
}

int vm_request_delete(cp_app *app, const char *vm_id, cu_error **err)
{
    if (store_tx_begin(app->store, err) < 0)
        return -1;
    int r = vm_request_delete_in_tx(app, vm_id, err);
    if (r < 0) {
        store_tx_rollback(app->store);
        return -1;
    }
    if (store_tx_commit(app->store, err) < 0)
        return -1;
    ops_notify(app);
    orders_kick(app);
    return r;
}
