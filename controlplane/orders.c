/* orders.c: see orders.h. */
#define _GNU_SOURCE
#include "orders.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "http_client.h"
#include "json_util.h"
#include "log.h"
#include "loop.h"
#include "ops.h"
#include "reports.h"
#include "scheduler.h"
#include "schema.h"
#include "store.h"
#include "vms.h"

#define PUSH_TIMEOUT_MS 10000
#define RECHECK_MS 30000 /* re-send an accepted order if the host never applied it */
#define BACKOFF_MAX_MS 30000

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Hosts silent for longer than the timeout are down; what runs there is
 * unknown until they report again.  Silence counts from this process's
 * start, not from a heartbeat stored before it: while the control plane
 * itself was down no host could report, so after a restart (or a crash,
 * or a stop for an upgrade) every host gets the full timeout to be heard
 * before it is marked down and its VMs unknown. */
static void mark_silent_hosts_down(cp_app *app)
{
    if (cu_monotonic_ms() - app->started_ms < (long long)app->host_timeout_s * 1000)
        return;
    _cleanup_error_ cu_error *err = NULL;
    char cutoff[64];
    snprintf(cutoff, sizeof(cutoff), "-%u seconds", app->host_timeout_s);
    if (store_tx_begin(app->store, &err) < 0)
        return;
    int n = store_exec(app->store, &err,
                       "UPDATE hosts SET state = 'down' WHERE state = 'up' AND last_heartbeat <"
                       " strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?)",
                       "s", cutoff);
    if (n > 0)
        store_exec(app->store, &err,
                   "UPDATE vms SET state = 'unknown', guest_state = NULL, updated_at = " SQL_NOW
                   " WHERE host_id IN (SELECT id FROM hosts WHERE state = 'down')"
                   " AND state NOT IN ('unknown')",
                   "");
    if (err) {
        store_tx_rollback(app->store);
        log_error("marking silent hosts down: %s", err->message);
        return;
    }
    store_tx_commit(app->store, &err);
    if (n > 0)
        log_warn("%d host(s) stopped sending heartbeats: marked down, their VMs unknown", n);
}

/* VMs that older versions accepted while no host was up (a create now
 * fails at once instead) get one as soon as one is. */
static void place_waiting_vms(cp_app *app)
{
    _cleanup_error_ cu_error *err = NULL;
    json_t *vms = store_list(app->store, &err,
                             "SELECT v.id, v.name, v.size, v.vcpus, v.memory_mib, v.disk_gib,"
                             " i.architecture FROM vms v JOIN images i ON i.id = v.image_id"
                             " WHERE v.host_id IS NULL AND v.desired_state = 'running'"
                             " ORDER BY v.seq LIMIT 100",
                             "");
    size_t i;
    json_t *vm;
    json_array_foreach(vms, i, vm)
    {
        const char *id = cu_json_str(vm, "id");
        sched_request sr = {.vcpus = json_integer_value(json_object_get(vm, "vcpus")),
                            .memory_mib = json_integer_value(json_object_get(vm, "memory_mib")),
                            .disk_gib = json_integer_value(json_object_get(vm, "disk_gib")),
                            .architecture = cu_json_str(vm, "architecture"),
                            .size_name = cu_json_str(vm, "size")};
        _cleanup_free_ char *host = NULL;
        _cleanup_error_ cu_error *perr = NULL;
        if (store_tx_begin(app->store, &perr) < 0)
            break;
        int r = scheduler_place(app, &sr, &host, &perr);
        if (r < 0 && perr->field == NULL) /* still no host up: keep waiting */
            r = 2;
        if (r == 0)
            store_exec(app->store, &perr,
                       "UPDATE vms SET host_id = ?, next_push_at = 0, updated_at = " SQL_NOW
                       " WHERE id = ? AND host_id IS NULL",
                       "ss", host, id);
        else if (r == -1 && strcmp(perr->code, CU_E_NO_CAPACITY) == 0) {
            /* Hosts are up but none fits: say so on the operation and stop waiting. */
            json_t *op = NULL;
            if (ops_find_in_flight(app, id, &op, NULL) == 1) {
                ops_finish(app, cu_json_str(op, "id"), CU_E_NO_CAPACITY, perr->message, NULL);
                json_decref(op);
            }
            store_exec(app->store, NULL, "UPDATE vms SET state = 'error', state_message = ? WHERE id = ?",
                       "ss", perr->message, id);
        }
        store_tx_commit(app->store, NULL);
        if (r == -1)
            ops_notify(app);
        if (r == 0)
            log_info("VM '%s' placed on host %s", cu_json_str(vm, "name"), host);
    }
    json_decref(vms);
}

/* Sends one order; returns the HTTP status, or -1 when the host could not
 * be reached (err says why). */
static long send_order(const json_t *vm, cu_error **err, json_t **reply, cp_app *app)
{
    const char *id = cu_json_str(vm, "id");
    _cleanup_free_ char *url = NULL;
    if (asprintf(&url, "%s/v1/vms/%s", cu_json_str(vm, "api_url"), id) < 0)
        abort();
    long status = 0;
    int deleting = strcmp(cu_json_str(vm, "desired_state"), "deleted") == 0;
    json_t *spec = deleting ? NULL : vm_build_spec(app, id, err);
    if (!deleting && spec == NULL)
        return -1;
    int r = http_client_json(deleting ? "DELETE" : "PUT", url, cu_json_str(vm, "order_token"),
                             spec, PUSH_TIMEOUT_MS, &status, reply, err);
    json_decref(spec);
    return r < 0 ? -1 : status;
}

static void order_failed(cp_app *app, const json_t *vm, const char *why, int permanent)
{
    const char *id = cu_json_str(vm, "id");
    long long attempts = json_integer_value(json_object_get(vm, "push_attempts")) + 1;
    long long backoff = 500LL << (attempts < 6 ? attempts : 6);
    if (backoff > BACKOFF_MAX_MS)
        backoff = BACKOFF_MAX_MS;
    store_exec(app->store, NULL,
               "UPDATE vms SET push_attempts = ?, next_push_at = ?,"
               " pushed_generation = CASE WHEN ? THEN generation ELSE pushed_generation END"
               " WHERE id = ?",
               "iiis", attempts, now_ms() + backoff, (long long)permanent, id);
    json_t *op = NULL;
    if (ops_find_in_flight(app, id, &op, NULL) == 1) {
        const char *op_id = cu_json_str(op, "id");
        if (permanent) {
            ops_finish(app, op_id, "order_refused", why, NULL);
            store_exec(app->store, NULL,
                       "UPDATE vms SET state = 'error', state_message = ? WHERE id = ?", "ss", why,
                       id);
        } else {
            _cleanup_free_ char *msg = NULL;
            if (asprintf(&msg, "%s; retrying in %lld s", why, (backoff + 999) / 1000) < 0)
                abort();
            ops_update(app, op_id, cu_json_str(op, "status"), 0, msg, NULL);
        }
        json_decref(op);
        ops_notify(app);
    }
    log_warn("order for VM '%s' (generation %lld) to host '%s': %s", cu_json_str(vm, "name"),
             (long long)json_integer_value(json_object_get(vm, "generation")),
             cu_json_str(vm, "host"), why);
}

static void order_accepted(cp_app *app, const json_t *vm)
{
    const char *id = cu_json_str(vm, "id");
    /* A newer order stored while this one was on its way goes out now. */
    store_exec(app->store, NULL,
               "UPDATE vms SET pushed_generation = ?1, push_attempts = 0,"
               " next_push_at = CASE WHEN generation > ?1 THEN 0 ELSE ?2 END WHERE id = ?3",
               "iis", json_integer_value(json_object_get(vm, "generation")),
               now_ms() + RECHECK_MS, id);
    json_t *op = NULL;
    if (ops_find_in_flight(app, id, &op, NULL) == 1) {
        if (strcmp(cu_json_str(op, "status"), "pending") == 0) {
            _cleanup_free_ char *msg = NULL;
            if (asprintf(&msg, "host '%s' accepted the order", cu_json_str(vm, "host")) < 0)
                abort();
            ops_update(app, cu_json_str(op, "id"), "running", 5, msg, NULL);
            ops_notify(app);
        }
        json_decref(op);
    }
}

static void push_one(cp_app *app, const json_t *vm)
{
    _cleanup_error_ cu_error *err = NULL;
    json_t *reply = NULL;
    long status = send_order(vm, &err, &reply, app);
    int deleting = strcmp(cu_json_str(vm, "desired_state"), "deleted") == 0;
    if (deleting && status == 404) { /* the host never had it, or already destroyed it */
        _cleanup_error_ cu_error *gerr = NULL;
        if (store_tx_begin(app->store, &gerr) == 0) {
            reports_vm_gone(app, cu_json_str(vm, "id"), &gerr);
            gerr ? store_tx_rollback(app->store) : (void)store_tx_commit(app->store, &gerr);
        }
        ops_notify(app);
    } else if (status >= 200 && status < 300) {
        order_accepted(app, vm);
    } else if (status < 0) {
        _cleanup_free_ char *why = NULL;
        if (asprintf(&why, "host '%s' is unreachable: %s", cu_json_str(vm, "host"),
                     err ? err->message : "?") < 0)
            abort();
        order_failed(app, vm, why, 0);
    } else {
        const json_t *e = json_object_get(reply, "error");
        _cleanup_free_ char *why = NULL;
        if (asprintf(&why, "host '%s' refused the order (HTTP %ld): %s", cu_json_str(vm, "host"),
                     status, e ? cu_json_str(e, "message") : "no reason given") < 0)
            abort();
        /* 4xx: this order will never work as is; 5xx and 409: try again. */
        order_failed(app, vm, why, status >= 400 && status < 500 && status != 409);
    }
    json_decref(reply);
}

static void push_due_orders(cp_app *app)
{
    _cleanup_error_ cu_error *err = NULL;
    json_t *vms = store_list(
        app->store, &err,
        "SELECT v.id, v.name, v.desired_state, v.generation, v.push_attempts, h.name AS host,"
        " h.api_url, h.order_token FROM vms v JOIN hosts h ON h.id = v.host_id"
        " WHERE h.state = 'up' AND h.api_url IS NOT NULL AND v.next_push_at <= ?"
        " AND (v.pushed_generation < v.generation OR v.reported_generation < v.generation)"
        " ORDER BY v.next_push_at LIMIT 50",
        "i", now_ms());
    if (vms == NULL) {
        log_error("reconciler: %s", err->message);
        return;
    }
    size_t i;
    json_t *vm;
    json_array_foreach(vms, i, vm) push_one(app, vm);
    json_decref(vms);
}

void orders_reconcile_once(cp_app *app)
{
    mark_silent_hosts_down(app);
    place_waiting_vms(app);
    push_due_orders(app);
}

static void reconcile(void *arg)
{
    orders_reconcile_once(arg);
}

int orders_start(cp_app *app, cu_error **err)
{
    app->started_ms = cu_monotonic_ms();
    if (cu_loop_start(&app->reconciler, reconcile, app, app->reconcile_ms, err) < 0)
        return cu_error_wrap(err, "starting the reconciler");
    return 0;
}

void orders_stop(cp_app *app)
{
    cu_loop_stop(&app->reconciler);
}

void orders_kick(cp_app *app)
{
    cu_loop_kick(&app->reconciler);
}
