/* reports.c: see reports.h.
 *
 * Each VM entry of a heartbeat:
 *   {"id", "state": "provisioning"|"starting"|"running"|"stopping"|"stopped"|"error",
 *    "accepted_generation", "applied_generation", "ssh_port"|null,
 *    "progress": 0..100, "message", "error": {"code","message"}|null,
 *    "guest": null | {"state": "booting"|"ready"|"failed", "message",
 *                     "boot_seconds": N|null, "timed_out": bool}}
 * An operation on a VM ends when the host has applied the generation the
 * operation waits for and the VM is in the state the user asked for (for
 * "running": the guest is ready, i.e. cloud-init has finished), or when
 * the host reports an error for that generation, or cloud-init failed, or
 * the guest was still silent after the host's boot timeout.  In the last
 * two cases the VM keeps running: the operation says what went wrong. */
#define _GNU_SOURCE
#include "reports.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bake.h"
#include "cleanup.h"
#include "image_export.h"
#include "json_util.h"
#include "log.h"
#include "ops.h"
#include "schema.h"
#include "snapshots.h"
#include "store.h"

static long long jint(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

int reports_vm_gone(cp_app *app, const char *vm_id, cu_error **err)
{
    json_t *op = NULL;
    if (ops_find_in_flight(app, vm_id, &op, err) == 1) {
        ops_finish(app, cu_json_str(op, "id"), NULL, "the host destroyed the VM and its disk", err);
        json_decref(op);
    }
    return store_exec(app->store, err, "DELETE FROM vms WHERE id = ? AND desired_state = 'deleted'",
                      "s", vm_id);
}

/* The state an operation wants to see once its generation is applied. */
static const char *wanted_state(const json_t *vm)
{
    return strcmp(cu_json_str(vm, "desired_state"), "stopped") == 0 ? "stopped" : "running";
}

/* The operation's generation is applied and QEMU runs: done once the
 * guest is ready. */
static void advance_boot(cp_app *app, const char *op_id, const json_t *guest, cu_error **err)
{
    const char *gs = cu_json_str(guest, "state"), *gmsg = cu_json_str(guest, "message");
    json_t *secs = json_object_get(guest, "boot_seconds");
    if (gs && strcmp(gs, "ready") == 0) {
        char msg[128];
        if (json_is_integer(secs))
            snprintf(msg, sizeof(msg), "ready: cloud-init finished %lld s after boot",
                     (long long)json_integer_value(secs));
        else
            snprintf(msg, sizeof(msg), "ready: cloud-init finished");
        ops_finish(app, op_id, NULL, msg, err);
    } else if (gs && strcmp(gs, "failed") == 0) {
        ops_finish(app, op_id, "cloud_init_failed", gmsg ? gmsg : "cloud-init failed", err);
    } else if (json_is_true(json_object_get(guest, "timed_out"))) {
        ops_finish(app, op_id, "boot_timeout", gmsg ? gmsg : "the guest did not finish booting",
                   err);
    } else {
        ops_update(app, op_id, "running", 90, gmsg ? gmsg : "booting", err);
    }
}

static void advance_operation(cp_app *app, const json_t *vm, const json_t *rep, cu_error **err)
{
    json_t *op = NULL;
    if (ops_find_in_flight(app, cu_json_str(vm, "id"), &op, err) != 1)
        return;
    const char *op_id = cu_json_str(op, "id");
    long long want = jint(op, "generation");
    const json_t *error = json_object_get(rep, "error");
    const char *state = cu_json_str(rep, "state");
    const char *wanted = wanted_state(vm);
    if (want && json_is_object(error) && jint(error, "generation") >= want) {
        /* This order failed (in part: a snapshot fails with the VM as it was). */
        ops_finish(app, op_id, cu_json_str(error, "code") ? cu_json_str(error, "code") : "failed",
                   cu_json_str(error, "message"), err);
    } else if (want && jint(rep, "applied_generation") >= want && strcmp(state, wanted) == 0) {
        if (strcmp(wanted, "running") == 0)
            advance_boot(app, op_id, json_object_get(rep, "guest"), err);
        else
            ops_finish(app, op_id, NULL, cu_json_str(rep, "message"), err);
    } else if (json_is_object(error) && jint(rep, "accepted_generation") >= want) {
        ops_finish(app, op_id, cu_json_str(error, "code") ? cu_json_str(error, "code") : "failed",
                   cu_json_str(error, "message"), err);
    } else if (jint(rep, "accepted_generation") >= want) {
        ops_update(app, op_id, "running", jint(rep, "progress"), cu_json_str(rep, "message"), err);
    }
    json_decref(op);
}

static void apply_vm(cp_app *app, const char *host_id, const json_t *rep, cu_error **err)
{
    const char *id = cu_json_str(rep, "id");
    json_t *vm = NULL;
    if (id == NULL || store_get(app->store, &vm, err,
                                "SELECT id, name, desired_state, host_id FROM vms WHERE id = ?",
                                "s", id) != 1) {
        /* Not ours (any more): never delete on a report; an operator decides. */
        log_warn("host %s reports VM '%s' that the control plane does not know; leaving it alone",
                 host_id, id ? id : "?");
        return;
    }
    if (strcmp(cu_json_str(vm, "host_id") ? cu_json_str(vm, "host_id") : "", host_id) != 0) {
        log_warn("host %s reports VM '%s' placed elsewhere; ignoring", host_id, id);
    } else if (strcmp(cu_json_str(vm, "desired_state"), "deleted") == 0) {
        /* Still there: the delete order is being carried out. */
    } else {
        json_t *port = json_object_get(rep, "ssh_port");
        const json_t *error = json_object_get(rep, "error");
        const json_t *guest = json_object_get(rep, "guest");
        json_t *secs = json_object_get(guest, "boot_seconds");
        store_exec(app->store, err,
                   "UPDATE vms SET state = ?, ssh_port = NULLIF(?, -1), reported_generation = ?,"
                   " state_message = ?, guest_state = ?, guest_message = ?,"
                   " boot_seconds = NULLIF(?, -1),"
                   " updated_at = CASE WHEN state != ?1 OR guest_state IS NOT ?5 THEN " SQL_NOW
                   " ELSE updated_at END WHERE id = ?",
                   "siisssis", cu_json_str(rep, "state"),
                   json_is_integer(port) ? json_integer_value(port) : -1LL,
                   jint(rep, "accepted_generation"),
                   json_is_object(error) ? cu_json_str(error, "message") : cu_json_str(rep, "message"),
                   cu_json_str(guest, "state"), cu_json_str(guest, "message"),
                   json_is_integer(secs) ? json_integer_value(secs) : -1LL, id);
        snapshots_apply_report(app, id, rep, err);
        image_export_apply_report(app, id, rep, err);
        bake_apply_report(app, id, rep, err);
        advance_operation(app, vm, rep, err);
    }
    json_decref(vm);
}

static int reported_has(const json_t *reported, const char *vm_id)
{
    size_t i;
    json_t *r;
    json_array_foreach(reported, i, r)
    {
        const char *id = cu_json_str(r, "id");
        if (id && strcmp(id, vm_id) == 0)
            return 1;
    }
    return 0;
}

/* VMs of this host that the user deleted and the host no longer reports. */
static void finish_deletions(cp_app *app, const char *host_id, const json_t *reported,
                             cu_error **err)
{
    json_t *deleting = store_list(app->store, err,
                                  "SELECT id FROM vms WHERE host_id = ? AND desired_state = 'deleted'"
                                  " AND pushed_generation >= generation",
                                  "s", host_id);
    size_t i;
    json_t *d;
    json_array_foreach(deleting, i, d)
    {
        if (!reported_has(reported, cu_json_str(d, "id")))
            reports_vm_gone(app, cu_json_str(d, "id"), err);
    }
    json_decref(deleting);
}

/* VMs this host reported before and reports no more: it lost them (its
 * data directory was wiped, or restored from an old backup), since an
 * agent reports every VM it holds until a DELETE.  The order is sent
 * again and the agent makes the VM anew: only that explicit order makes a
 * new disk, never this report. */
static void reorder_missing(cp_app *app, const char *host_id, const json_t *reported,
                            cu_error **err)
{
    json_t *ordered = store_list(app->store, err,
                                 "SELECT id, name FROM vms WHERE host_id = ? AND"
                                 " desired_state != 'deleted' AND reported_generation > 0",
                                 "s", host_id);
    size_t i;
    json_t *o;
    json_array_foreach(ordered, i, o)
    {
        if (reported_has(reported, cu_json_str(o, "id")))
            continue;
        log_warn("host %s no longer reports VM '%s'; sending its order again", host_id,
                 cu_json_str(o, "name"));
        store_exec(app->store, err,
                   "UPDATE vms SET reported_generation = 0, pushed_generation = 0,"
                   " next_push_at = 0, state = 'unknown', updated_at = " SQL_NOW " WHERE id = ?",
                   "s", cu_json_str(o, "id"));
    }
    json_decref(ordered);
}

/* A host that was down reports again: what runs there is re-adopted from
 * its report, and orders that waited for it go out now, not after their
 * backoff. */
static void host_back(cp_app *app, const char *host_id, cu_error **err)
{
    json_t *h = NULL;
    if (store_get(app->store, &h, err, "SELECT name FROM hosts WHERE id = ? AND state = 'down'",
                  "s", host_id) != 1)
        return;
    log_info("host '%s' reports again after being down", cu_json_str(h, "name"));
    store_exec(app->store, err,
               "UPDATE vms SET next_push_at = 0, push_attempts = 0 WHERE host_id = ?", "s",
               host_id);
    json_decref(h);
}

/* Every entry of "vms" names its VM and state: the rest of this module
 * takes both for granted. */
static int check_entries(const json_t *vms, cu_error **err)
{
    size_t i;
    const json_t *rep;
    json_array_foreach(vms, i, rep)
    {
        if (!json_is_string(json_object_get(rep, "id")) ||
            !json_is_string(json_object_get(rep, "state")))
            return cu_error_set(err, 400, CU_E_INVALID_FIELD, "vms",
                                "vms[%zu] must be an object with an \"id\" and a \"state\" string",
                                i);
    }
    return 0;
}

int reports_apply(cp_app *app, const char *host_id, const json_t *body, cu_error **err)
{
    const json_t *vms = json_object_get(body, "vms");
    if (check_entries(vms, err) < 0 || store_tx_begin(app->store, err) < 0)
        return -1;
    host_back(app, host_id, err);
    store_exec(app->store, err,
               "UPDATE hosts SET state = CASE WHEN state = 'down' THEN 'up' ELSE state END,"
               " last_heartbeat = " SQL_NOW ", free_vcpus = ?, free_memory_mib = ?,"
               " free_disk_gib = ? WHERE id = ?",
               "iiis", jint(body, "free_vcpus"), jint(body, "free_memory_mib"),
               jint(body, "free_disk_gib"), host_id);
    /* An agent restarted on another port says so; orders go there now. */
    const char *url = cu_json_str(body, "api_url");
    if (url && (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0) &&
        store_exec(app->store, err, "UPDATE hosts SET api_url = ? WHERE id = ? AND api_url IS NOT ?1",
                   "ss", url, host_id) > 0)
        store_exec(app->store, err, "UPDATE vms SET next_push_at = 0 WHERE host_id = ?", "s",
                   host_id);
    const char *console = cu_json_str(body, "console_url");
    if (console)
        store_exec(app->store, err,
                   "UPDATE hosts SET console_url = ? WHERE id = ? AND console_url IS NOT ?1", "ss",
                   console, host_id);
    size_t i;
    json_t *rep;
    json_array_foreach(vms, i, rep) apply_vm(app, host_id, rep, err);
    finish_deletions(app, host_id, vms, err);
    reorder_missing(app, host_id, vms, err);
    if (*err) {
        store_tx_rollback(app->store);
        return -1;
    }
    if (store_tx_commit(app->store, err) < 0)
        return -1;
    ops_notify(app);
    return 0;
}
