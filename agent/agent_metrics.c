/* agent_metrics.c: GET /metrics, the agent's figures in the Prometheus
 * text format 0.0.4.
 *
 * Counted as it happens, in the process's registry: requests (the HTTP
 * server), console viewers and bytes (the console proxy's thread).  Read
 * at each scrape into a registry of its own, rendered after and freed (so
 * a VM that is gone leaves no series behind): the VMs by state and, for
 * each VM whose QEMU is alive, its CPU time and resident memory
 * (proc_usage.h). */
#define _GNU_SOURCE
#include "agent_metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "json_util.h"
#include "metrics.h"
#include "proc_usage.h"
#include "vm_manager.h"
#include "vm_proc.h"

static metric *m_viewers, *m_bytes;

static void console_metrics_init(void)
{
    static const char *const viewer_labels[] = {"kind"};
    static const char *const byte_labels[] = {"kind", "direction"};
    static const char *const kinds[] = {"vnc", "serial"};
    static const char *const directions[] = {"to_viewer", "to_vm"};
    metrics_registry *r = metrics_default();
    m_viewers =
        metrics_gauge(r, "cumulus_console_viewers",
                      "Console viewers connected now, by kind (vnc, serial).", 1, viewer_labels);
    m_bytes = metrics_counter(r, "cumulus_console_bytes_total",
                              "Bytes the console proxy passed, by kind and direction (to_viewer, "
                              "to_vm).",
                              2, byte_labels);
    /* Zeros from the start, so a rate() has a first point. */
    for (size_t k = 0; k < 2; k++) {
        metric_add(m_viewers, &kinds[k], 0);
        for (size_t d = 0; d < 2; d++)
            metric_add(m_bytes, (const char *[]){kinds[k], directions[d]}, 0);
    }
}

static pthread_once_t console_once = PTHREAD_ONCE_INIT;

void agent_metrics_console_viewers(const char *kind, double delta)
{
    pthread_once(&console_once, console_metrics_init);
    metric_add(m_viewers, &kind, delta);
}

void agent_metrics_console_bytes(const char *kind, const char *direction, size_t n)
{
    pthread_once(&console_once, console_metrics_init);
    metric_add(m_bytes, (const char *[]){kind, direction}, (double)n);
}

/* VMs by state and each running VM's CPU and memory, as exposition text. */
static char *vm_figures(agent *a)
{
    static const char *const states[] = {"provisioning", "starting", "running",   "stopping",
                                         "stopped",      "error",    "destroying"};
    static const char *const state_label[] = {"state"};
    static const char *const vm_label[] = {"vm"};
    metrics_registry *reg = metrics_registry_new();
    metric *by_state =
        metrics_gauge(reg, "cumulus_agent_vms", "VMs on this host by state.", 1, state_label);
    metric *cpu = metrics_counter(reg, "cumulus_vm_cpu_seconds_total",
                                  "CPU time a VM's QEMU has used (user + system).", 1, vm_label);
    metric *mem = metrics_gauge(reg, "cumulus_vm_memory_rss_bytes",
                                "Resident memory of a VM's QEMU (its RSS).", 1, vm_label);
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
        metric_set(by_state, &states[i], 0);
    json_t *vms = vm_status_all(a);
    size_t i;
    json_t *vm;
    json_array_foreach(vms, i, vm)
    {
        const char *id = cu_json_str(vm, "id");
        const char *state = cu_json_str(vm, "state");
        if (id == NULL || state == NULL)
            continue;
        metric_add(by_state, &state, 1);
        pid_t pid = vm_proc_pid(a, id); /* also while starting or stopping */
        proc_usage u;
        cu_error *perr = NULL;
        if (pid > 0 && proc_usage_sample(pid, &u, &perr) == 0) {
            metric_add(cpu, &id, u.cpu_seconds);
            metric_set(mem, &id, (double)u.rss_bytes);
        }
        cu_error_free(perr); /* gone meanwhile: no series this time */
    }
    json_decref(vms);
    char *text = metrics_render(reg);
    metrics_registry_free(reg);
    return text;
}

int agent_metrics(http_request *req, http_response *resp, cu_error **err)
{
    (void)err;
    pthread_once(&console_once, console_metrics_init);
    char *figures = vm_figures(req->app);
    metrics_respond(resp, figures);
    return 0;
}
