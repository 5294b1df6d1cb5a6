/* agent_api.c: see agent_api.h. */
#define _GNU_SOURCE
#include "agent_api.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "agent_metrics.h"
#include "ids.h"
#include "json_util.h"
#include "proc_usage.h"
#include "screenshot.h"
#include "version.h"
#include "vm_export.h"
#include "vm_manager.h"
#include "vm_proc.h"

#define AGENT(req) ((agent *)(req)->app)
#define ROLE_CONTROL_PLANE 1u

int agent_auth(void *app, const char *token, http_principal *out, cu_error **err)
{
    agent *a = app;
    pthread_mutex_lock(&a->cred_lock);
    int ok = a->order_token[0] && cu_const_time_eq(token, a->order_token);
    pthread_mutex_unlock(&a->cred_lock);
    if (!ok)
        return cu_error_set(err, 401, CU_E_UNAUTHORIZED, NULL,
                            "the bearer token is not this agent's order token");
    out->role = ROLE_CONTROL_PLANE;
    snprintf(out->id, sizeof(out->id), "control-plane");
    return 0;
}

static int health(http_request *req, http_response *resp, cu_error **err)
{
    agent *a = AGENT(req);
    resp->body = json_pack("{s:s, s:s, s:s, s:s}", "status", "ok", "version", CUMULUS_VERSION,
                           "host", a->name, "host_id", a->host_id);
    return 0;
}

static int list(http_request *req, http_response *resp, cu_error **err)
{
    resp->body = json_pack("{s:o}", "vms", vm_status_all(AGENT(req)));
    return 0;
}

static int get(http_request *req, http_response *resp, cu_error **err)
{
    resp->body = vm_status_one(AGENT(req), req->params[0]);
    if (resp->body == NULL)
        return cu_error_set(err, 404, CU_E_NOT_FOUND, NULL, "no VM '%s' on this host",
                            req->params[0]);
    return 0;
}

static int put(http_request *req, http_response *resp, cu_error **err)
{
    vm_spec spec;
    if (req->body == NULL)
        return cu_error_set(err, 400, CU_E_INVALID_JSON, NULL, "send the VM's spec");
    if (vm_spec_from_json(req->body, &spec, err) < 0)
        return -1;
    if (strcmp(spec.id, req->params[0]) != 0) {
        vm_spec_clear(&spec);
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "id",
                            "the spec is for '%s' but was sent to '%s'", spec.id, req->params[0]);
    }
    if (!host_runs_arch(&AGENT(req)->facts, spec.image.architecture)) {
        cu_error_set(err, 400, CU_E_INVALID_FIELD, "image.architecture",
                     "this host cannot run %s guests (no QEMU or firmware for them)",
                     spec.image.architecture);
        vm_spec_clear(&spec);
        return -1;
    }
    if (vm_accept(AGENT(req), &spec, err) < 0)
        return -1;
    resp->status = 202;
    resp->body = vm_status_one(AGENT(req), req->params[0]);
    return 0;
}

static int del(http_request *req, http_response *resp, cu_error **err)
{
    int found = 0;
    if (vm_destroy(AGENT(req), req->params[0], &found, err) < 0)
        return -1;
    if (!found)
        return cu_error_set(err, 404, CU_E_NOT_FOUND, NULL, "no VM '%s' on this host",
                            req->params[0]);
    resp->status = 202;
    resp->body = json_pack("{s:s, s:s}", "id", req->params[0], "state", "destroying");
    return 0;
}

/* GET /v1/vms/{id}/screenshot?size=W: a PNG of the screen, at most W wide. */
static int screenshot(http_request *req, http_response *resp, cu_error **err)
{
    const char *size = http_query(req, "size");
    char *end = NULL;
    long w = size ? strtol(size, &end, 10) : 0;
    if (size && (*size == '\0' || *end != '\0' || w < 16 || w > 4096))
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "size",
                            "size must be a width in pixels from 16 to 4096, got '%.32s'", size);
    if (vm_id_check("id", req->params[0], err) < 0)
        return -1;
    long long bytes = 0;
    if (screenshot_take(AGENT(req), req->params[0], (int)w, &resp->file_fd, &bytes, err) < 0)
        return -1;
    resp->file_size = bytes;
    resp->content_type = "image/png";
    return 0;
}

/* Now as "2026-12-05T05:02:00.123Z" (the control plane's timestamps). */
static void iso_now(char out[32])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* GET /v1/vms/{id}/stats: what the running VM's QEMU uses now
 * (proc_usage.h) beside the memory its order gives it.  404 for a VM this
 * host does not know, 409 while it does not run. */
static int stats(http_request *req, http_response *resp, cu_error **err)
{
    const char *id = req->params[0];
    if (vm_id_check("id", id, err) < 0)
        return -1;
    json_auto_t *vm = vm_status_one(AGENT(req), id);
    if (vm == NULL)
        return cu_error_set(err, 404, CU_E_NOT_FOUND, NULL, "no VM '%s' on this host", id);
    const char *state = cu_json_str(vm, "state");
    if (strcmp(state, "running") != 0)
        return cu_error_set(err, 409, CU_E_CONFLICT, NULL,
                            "VM '%s' is %s: its CPU and memory figures are there while it runs", id,
                            state);
    pid_t pid = vm_proc_pid(AGENT(req), id);
    proc_usage u;
    if (pid == 0 || proc_usage_sample(pid, &u, err) < 0) {
        if (pid && (*err)->status != 404)
            return cu_error_wrap(err, "the figures of VM '%s'", id);
        cu_error_free(*err); /* gone: the watcher marks it stopped within a second */
        *err = NULL;
        return cu_error_set(err, 409, CU_E_CONFLICT, NULL,
                            "VM '%s' has no QEMU process now: it has just stopped", id);
    }
    char at[32];
    iso_now(at);
    json_int_t memory_mib = json_integer_value(json_object_get(vm, "memory_mib"));
    resp->body = json_pack("{s:s, s:f, s:I, s:I, s:s}", "vm_id", id, "cpu_seconds", u.cpu_seconds,
                           "rss_bytes", (json_int_t)u.rss_bytes, "memory_bytes",
                           memory_mib * 1048576, "sampled_at", at);
    return 0;
}

/* GET /v1/vms/{id}/exports/{image}: an image made of the VM's disk. */
static int export_get(http_request *req, http_response *resp, cu_error **err)
{
    char path[PATH_MAX];
    if (vm_export_path(AGENT(req), req->params[0], req->params[1], path, sizeof(path), err) < 0)
        return -1;
    resp->file_fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (resp->file_fd < 0 || fstat(resp->file_fd, &st) < 0)
        return cu_error_errno(err, errno, "cannot open '%s'", path);
    resp->file_size = st.st_size;
    resp->content_type = "application/octet-stream";
    return 0;
}

const http_route agent_routes[] = {
    {"GET", "/v1/health", health, 0},
    {"GET", "/metrics", agent_metrics, ROLE_CONTROL_PLANE},
    {"GET", "/v1/vms", list, ROLE_CONTROL_PLANE},
    {"GET", "/v1/vms/{id}", get, ROLE_CONTROL_PLANE},
    {"PUT", "/v1/vms/{id}", put, ROLE_CONTROL_PLANE},
    {"DELETE", "/v1/vms/{id}", del, ROLE_CONTROL_PLANE},
    {"GET", "/v1/vms/{id}/exports/{image}", export_get, ROLE_CONTROL_PLANE},
    {"GET", "/v1/vms/{id}/screenshot", screenshot, ROLE_CONTROL_PLANE},
    {"GET", "/v1/vms/{id}/stats", stats, ROLE_CONTROL_PLANE},
};
const size_t agent_nroutes = sizeof(agent_routes) / sizeof(agent_routes[0]);
