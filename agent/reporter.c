/* reporter.c: see reporter.h. */
#define _GNU_SOURCE
#include "reporter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "cleanup.h"
#include "credentials.h"
#include "http_client.h"
#include "json_util.h"
#include "log.h"
#include "loop.h"
#include "vm_manager.h"

static long long free_disk_gib(const char *dir)
{
    struct statvfs st;
    if (statvfs(dir, &st) < 0)
        return 0;
    return (long long)((unsigned long long)st.f_bavail * st.f_frsize >> 30);
}

static json_t *heartbeat_body(agent *a)
{
    long long vcpus, mem;
    /* VM states are fresh: the watcher (vm_table_watch_start) checks every second. */
    vm_usage(a, &vcpus, &mem);
    long long fv = a->facts.vcpus - vcpus, fm = a->facts.memory_mib - mem;
    return json_pack("{s:I, s:I, s:I, s:s, s:s?, s:o}", "free_vcpus", fv > 0 ? fv : 0,
                     "free_memory_mib", fm > 0 ? fm : 0, "free_disk_gib",
                     free_disk_gib(a->data_dir), "api_url", a->api_url, "console_url",
                     a->console_url, "vms", vm_status_all(a));
}

int reporter_send(agent *a, cu_error **err)
{
    _cleanup_free_ char *url = NULL;
    char token[128];
    pthread_mutex_lock(&a->cred_lock);
    if (a->host_id[0] == '\0' && credentials_join(a, err) < 0) {
        pthread_mutex_unlock(&a->cred_lock);
        return -1;
    }
    if (asprintf(&url, "%s/v1/hosts/%s/heartbeat", a->cp_url, a->host_id) < 0)
        abort();
    snprintf(token, sizeof(token), "%s", a->agent_token);
    pthread_mutex_unlock(&a->cred_lock);
    json_t *body = heartbeat_body(a), *reply = NULL;
    long status = 0;
    int r = http_client_json("POST", url, token, body, 10000, &status, &reply, err);
    json_decref(body);
    json_decref(reply);
    if (r < 0)
        return -1;
    if (status == 401) {
        log_warn("the control plane no longer knows this host's token; joining again");
        pthread_mutex_lock(&a->cred_lock);
        r = credentials_join(a, err);
        pthread_mutex_unlock(&a->cred_lock);
        return r;
    }
    if (status != 200)
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL, "heartbeat refused (HTTP %ld)", status);
    return 0;
}

/* A heartbeat slower than this is worth a line: the control plane marks a
 * host down after host-timeout seconds without one. */
#define SLOW_HEARTBEAT_S 2.0

static void report(void *arg)
{
    agent *a = arg;
    _cleanup_error_ cu_error *err = NULL;
    double start = cu_monotonic_s();
    int r = reporter_send(a, &err);
    double took = cu_monotonic_s() - start;
    if (took >= SLOW_HEARTBEAT_S)
        log_warn("a heartbeat took %.1f s (%s)", took, r < 0 ? err->message : "delivered");
    if (r < 0) {
        if (!a->report_failing++) {
            a->report_failing_since = start;
            log_warn("cannot report to the control plane: %s (will keep trying)", err->message);
        }
    } else if (a->report_failing) {
        log_info("reporting to the control plane again, after %d failed heartbeat(s) over %.1f s",
                 a->report_failing, cu_monotonic_s() - a->report_failing_since);
        a->report_failing = 0;
    }
}

int reporter_start(agent *a, cu_error **err)
{
    if (cu_loop_start(&a->reporter, report, a, a->heartbeat_s * 1000, err) < 0)
        return cu_error_wrap(err, "starting the reporter");
    return 0;
}

void reporter_stop(agent *a)
{
    cu_loop_stop(&a->reporter);
}

void agent_report_soon(agent *a)
{
    cu_loop_kick(&a->reporter);
}
