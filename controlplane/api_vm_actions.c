/* api_vm_actions.c: POST /v1/vms/{id}/actions {"type": "start" | "stop" |
 * "reboot" | "power_off"}.  One mutating operation per VM at a time: a
 * second one while the first is in flight gets 409 naming it.  An action
 * sets the desired state and records an operation that the host's agent
 * completes; on a VM no host has taken yet there is nothing to run, so
 * stopping is done at once. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cleanup.h"
#include "json_util.h"
#include "ids.h"
#include "ops.h"
#include "orders.h"
#include "schema.h"
#include "validate.h"
#include "vms.h"

static const char *const action_types[] = {"start", "stop", "reboot", "power_off", NULL};

/* The desired state an action asks for. */
static const char *desired_for(const char *type)
{
    return strcmp(type, "stop") == 0 || strcmp(type, "power_off") == 0 ? "stopped" : "running";
}

int vm_refuse_busy(cp_app *app, const json_t *vm, cu_error **err)
{
    json_t *op = NULL;
    int r = ops_find_in_flight(app, cu_json_str(vm, "id"), &op, err);
    if (r <= 0)
        return r;
    cu_error_set(err, 409, CU_E_BUSY, NULL,
                 "VM '%s' already has operation '%s' (%s, %s) in flight; wait for it with GET "
                 "/v1/operations/%s/wait",
                 cu_json_str(vm, "name"), cu_json_str(op, "id"), cu_json_str(op, "type"),
                 cu_json_str(op, "status"), cu_json_str(op, "id"));
    json_decref(op);
    return -1;
}

static json_t *apply_action(cp_app *app, const json_t *vm, const char *type, cu_error **err)
{
    const char *id = cu_json_str(vm, "id");
    _cleanup_free_ char *optype = NULL;
    if (asprintf(&optype, "vm.%s", type) < 0)
        abort();
    if (strcmp(cu_json_str(vm, "desired_state"), "deleted") == 0) {
        cu_error_set(err, 409, CU_E_CONFLICT, NULL, "VM '%s' is being deleted",
                     cu_json_str(vm, "name"));
        return NULL;
    }
    if (vm_refuse_busy(app, vm, err) < 0)
        return NULL;
    int placed = cu_json_str(vm, "host_id") != NULL;
    const char *desired = desired_for(type);
    if (strcmp(type, "reboot") == 0 &&
        (!placed || strcmp(cu_json_str(vm, "desired_state"), "running") != 0)) {
        cu_error_set(err, 409, CU_E_CONFLICT, NULL,
                     "VM '%s' is not running, so it cannot be rebooted (start it instead)",
                     cu_json_str(vm, "name"));
        return NULL;
    }
    int done_now = !placed && strcmp(desired, "stopped") == 0;
    const char *stop_mode = strcmp(type, "power_off") == 0 ? "hard" : "graceful";
    int reboot = strcmp(type, "reboot") == 0;
    _cleanup_free_ char *op_id = cu_id_new("op");
    if (store_exec(app->store, err,
                   "UPDATE vms SET desired_state = ?, stop_mode = ?,"
                   " reboot_request = CASE WHEN ? THEN ? ELSE reboot_request END,"
                   " state = CASE WHEN ? THEN 'stopped' ELSE state END,"
                   " generation = generation + 1, next_push_at = 0, push_attempts = 0,"
                   " updated_at = " SQL_NOW " WHERE id = ?",
                   "ssisis", desired, stop_mode, (long long)reboot, op_id, (long long)done_now,
                   id) < 0)
        return NULL;
    if (done_now)
        return ops_create(app, optype, "vm", id, "succeeded", "stopped (it was not running)", err);
    long long gen = store_int(app->store, 0, err, "SELECT generation FROM vms WHERE id = ?", "s", id);
    return ops_create_for_vm(app, optype, id, gen,
                             placed ? "sending the order to the VM's host"
                                    : "waiting for a host to place the VM on",
                             err);
}

int api_vms_action(http_request *req, http_response *resp, cu_error **err)
{
    static const cu_json_field fields[] = {{"type", CU_JSON_STRING, true}, {NULL}};
    cp_app *app = APP(req);
    const json_t *b = req->body;
    if (b == NULL)
        return cu_error_set(err, 400, CU_E_INVALID_JSON, NULL,
                            "send a JSON object: {\"type\": \"start\" | \"stop\" | \"reboot\" | "
                            "\"power_off\"}");
    if (cu_json_check_fields(b, fields, err) < 0 ||
        validate_enum("type", cu_json_str(b, "type"), action_types, err) < 0)
        return -1;
    json_t *vm = NULL, *op = NULL;
    if (store_tx_begin(app->store, err) < 0)
        return -1;
    int r = vm_lookup(app, req->params[0], &vm, err);
    if (r == 0)
        api_not_found(err, "VM", req->params[0]);
    if (r == 1)
        op = apply_action(app, vm, cu_json_str(b, "type"), err);
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
