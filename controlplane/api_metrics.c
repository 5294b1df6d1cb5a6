/* api_metrics.c: GET /metrics, the control plane's figures in the
 * Prometheus text format 0.0.4.
 *
 * Two parts: what is counted as it happens (requests, in the HTTP server;
 * operation durations, fed by ops.c) lives in the process's registry;
 * what the store knows (VMs and hosts by state, host capacity) is read at
 * each scrape into a registry of its own, rendered after the first and
 * freed, so a VM that is gone is gone from the figures too and two
 * scrapes at once never see each other's half-made gauges. */
#define _GNU_SOURCE
#include "api_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "json_util.h"
#include "metrics.h"

static const double op_buckets[] = {0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600};

static metric *op_duration(void)
{
    static const char *const labels[] = {"type", "status"};
    return metrics_histogram(metrics_default(), "cumulus_operation_duration_seconds",
                             "Time from an operation's creation to its end, by type and final "
                             "status.",
                             2, labels, sizeof(op_buckets) / sizeof(op_buckets[0]), op_buckets);
}

void cp_metrics_op_finished(cp_app *app, const char *id)
{
    json_t *row = NULL;
    cu_error *err = NULL;
    int r = store_get(app->store, &row, &err,
                      "SELECT type, status, (julianday(finished_at) - julianday(created_at))"
                      " * 86400.0 AS seconds FROM operations WHERE id = ? AND finished_at"
                      " IS NOT NULL",
                      "s", id);
    cu_error_free(err);
    if (r == 1) {
        const json_t *secs = json_object_get(row, "seconds");
        const char *labels[] = {cu_json_str(row, "type"), cu_json_str(row, "status")};
        if (labels[0] && labels[1] && json_is_number(secs))
            metric_observe(op_duration(), labels, json_number_value(secs));
    }
    json_decref(row);
}

/* Every known state first (a state with no VM is a 0, not a missing
 * series), then whatever else the store holds.  `sql` (static: the store
 * caches statements by their text's address) selects state and n. */
static int by_state(cp_app *app, metrics_registry *reg, const char *name, const char *help,
                    const char *sql, const char *const known[], cu_error **err)
{
    static const char *const labels[] = {"state"};
    metric *g = metrics_gauge(reg, name, help, 1, labels);
    for (size_t i = 0; known[i]; i++)
        metric_set(g, &known[i], 0);
    json_t *rows = store_list(app->store, err, sql, "");
    if (rows == NULL)
        return -1;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        const char *state = cu_json_str(row, "state");
        metric_set(g, &state, (double)json_integer_value(json_object_get(row, "n")));
    }
    json_decref(rows);
    return 0;
}

typedef struct capacity_gauge {
    const char *name, *help, *column;
    double unit; /* column unit in the metric's (bytes) */
} capacity_gauge;

static const capacity_gauge capacity[] = {
    {"cumulus_host_vcpus", "vCPUs a host has.", "vcpus", 1},
    {"cumulus_host_free_vcpus", "vCPUs of a host not taken by VMs (after allocation ratios).",
     "free_vcpus", 1},
    {"cumulus_host_memory_bytes", "Memory a host has.", "memory_mib", 1048576.0},
    {"cumulus_host_free_memory_bytes", "Memory of a host not taken by VMs.", "free_memory_mib",
     1048576.0},
    {"cumulus_host_disk_bytes", "Disk a host has for VMs.", "disk_gib", 1073741824.0},
    {"cumulus_host_free_disk_bytes", "Disk of a host not taken by VMs.", "free_disk_gib",
     1073741824.0},
};
#define NCAPACITY (sizeof(capacity) / sizeof(capacity[0]))

static int host_capacity(cp_app *app, metrics_registry *reg, cu_error **err)
{
    static const char *const labels[] = {"host"};
    json_t *rows = store_list(app->store, err,
                              "SELECT name, vcpus, free_vcpus, memory_mib, free_memory_mib,"
                              " disk_gib, free_disk_gib FROM hosts ORDER BY seq",
                              "");
    if (rows == NULL)
        return -1;
    metric *g[NCAPACITY];
    for (size_t k = 0; k < NCAPACITY; k++)
        g[k] = metrics_gauge(reg, capacity[k].name, capacity[k].help, 1, labels);
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        const char *host = cu_json_str(row, "name");
        for (size_t k = 0; k < NCAPACITY; k++)
            metric_set(g[k], &host,
                       (double)json_integer_value(json_object_get(row, capacity[k].column)) *
                           capacity[k].unit);
    }
    json_decref(rows);
    return 0;
}

/* The store's figures, as exposition text (malloc'd), or NULL. */
static char *store_figures(cp_app *app, cu_error **err)
{
    static const char *const vm_states[] = {"pending",  "provisioning", "running", "stopped",
                                            "deleting", "error",        "unknown", NULL};
    static const char *const host_states[] = {"up", "down", "draining", NULL};
    metrics_registry *reg = metrics_registry_new();
    char *text = NULL;
    if (by_state(app, reg, "cumulus_vms", "VMs by state.",
                 "SELECT state, COUNT(*) AS n FROM vms GROUP BY state", vm_states, err) == 0 &&
        by_state(app, reg, "cumulus_hosts", "Hosts by state.",
                 "SELECT state, COUNT(*) AS n FROM hosts GROUP BY state", host_states, err) == 0 &&
        host_capacity(app, reg, err) == 0)
        text = metrics_render(reg);
    metrics_registry_free(reg);
    return text;
}

int api_metrics(http_request *req, http_response *resp, cu_error **err)
{
    op_duration(); /* HELP and TYPE even before the first operation ends */
    char *figures = store_figures(APP(req), err);
    if (figures == NULL)
        return -1;
    metrics_respond(resp, figures);
    return 0;
}
