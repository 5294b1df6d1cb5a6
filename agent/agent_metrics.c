/* agent_metrics.c: GET /metrics, the agent's figures in the Prometheus
 * text format 0.0.4.
 *
 * Counted as it happens, in the process's registry: requests (the HTTP
 * server), console viewers and bytes (the console proxy's thread).  Read
 * at each scrape into a registry of its own, rendered after and freed (so
 * a VM that is gone leaves no series behind): the VMs by state and, for
 * each running VM, its QEMU's CPU time and resident memory from
 * /proc/<pid>/stat and /proc/<pid>/status.  Where /proc is missing (not
 * Linux) the per-VM figures are left out without a word. */
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

/* ---- per VM, from /proc ---------------------------------------------- */

/* utime + stime of `pid` in seconds: 0, or -1 (no /proc, or gone). */
static int proc_cpu_seconds(pid_t pid, double *out)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may hold spaces and parentheses: fields are
     * counted from the last ')'.  After it: state (field 3) ... utime
     * (14), stime (15). */
    char *p = strrchr(buf, ')');
    unsigned long long utime, stime;
    if (p == NULL || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                            &stime) != 2)
        return -1;
    long ticks = sysconf(_SC_CLK_TCK);
    *out = (double)(utime + stime) / (double)(ticks > 0 ? ticks : 100);
    return 0;
}

/* VmRSS of `pid` in bytes: 0, or -1. */
static int proc_rss_bytes(pid_t pid, double *out)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    int found = 0;
    unsigned long long kib = 0;
    while (!found && fgets(line, sizeof(line), f))
        found = sscanf(line, "VmRSS: %llu kB", &kib) == 1;
    fclose(f);
    if (!found)
        return -1;
    *out = (double)kib * 1024.0;
    return 0;
}

/* The QEMU of VM `id` when it runs and is still ours (pid and start time). */
static pid_t running_qemu(agent *a, const char *id)
{
    vm_runtime rt;
    cu_error *err = NULL;
    int r = vm_runtime_load(a, id, &rt, &err);
    cu_error_free(err);
    return r > 0 && rt.pid > 0 && vm_proc_alive(&rt) ? rt.pid : 0; /* 1: loaded */
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
    metric *mem = metrics_gauge(reg, "cumulus_vm_memory_bytes",
                                "Resident memory of a VM's QEMU (VmRSS).", 1, vm_label);
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
        pid_t pid = running_qemu(a, id); /* also while starting or stopping */
        double v;
        if (pid > 0 && proc_cpu_seconds(pid, &v) == 0)
            metric_add(cpu, &id, v);
        if (pid > 0 && proc_rss_bytes(pid, &v) == 0)
            metric_set(mem, &id, v);
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
