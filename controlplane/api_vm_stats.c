/* api_vm_stats.c: GET /v1/vms/{id}/stats, what the running VM's QEMU uses
 * now (CPU seconds since it started, resident memory) beside the memory
 * its size gives it.
 *
 * Asked of the VM's host (agent_api.h, GET /v1/vms/{id}/stats with the
 * host's order token) at each call and relayed as it answers: nothing is
 * stored or averaged here.  The dashboard samples it every few seconds and
 * draws the graphs; a CPU percentage is the growth of cpu_seconds over
 * the growth of sampled_at. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>

#include "api.h"
#include "cleanup.h"
#include "http_client.h"
#include "json_util.h"

#define STATS_TIMEOUT_MS 5000
#define STATS_WHAT "its CPU and memory figures"

/* The agent's answer has the fields the API documents. */
static int well_formed(const json_t *j)
{
    return json_is_string(json_object_get(j, "vm_id")) &&
           json_is_number(json_object_get(j, "cpu_seconds")) &&
           json_is_integer(json_object_get(j, "rss_bytes")) &&
           json_is_integer(json_object_get(j, "memory_bytes")) &&
           json_is_string(json_object_get(j, "sampled_at"));
}

/* A refusal from the host, in its words: 409 when the VM stopped there
 * meanwhile, 502 otherwise (the host is at fault, not the request). */
static int host_refused(const json_t *vm, long status, const json_t *reply, cu_error **err)
{
    const char *why = cu_json_str(json_object_get(reply, "error"), "message");
    if (status == 409)
        return cu_error_set(err, 409, CU_E_CONFLICT, NULL, "%s",
                            why ? why : "the VM does not run on its host");
    return cu_error_set(
        err, 502, "host_error", NULL, "host '%s' answered HTTP %ld for the figures of VM '%s': %s",
        cu_json_str(vm, "host"), status, cu_json_str(vm, "name"), why ? why : "no error message");
}

int api_vms_stats(http_request *req, http_response *resp, cu_error **err)
{
    json_t *row = NULL;
    if (api_running_vm(APP(req), req->params[0], STATS_WHAT, "stats_unavailable", &row, err) < 0) {
        json_decref(row);
        return -1;
    }
    json_auto_t *vm = row;
    _cleanup_free_ char *url = NULL;
    if (asprintf(&url, "%s/v1/vms/%s/stats", cu_json_str(vm, "api_url"), cu_json_str(vm, "id")) < 0)
        abort();
    long status = 0;
    json_t *reply = NULL;
    if (http_client_json("GET", url, cu_json_str(vm, "order_token"), NULL, STATS_TIMEOUT_MS,
                         &status, &reply, err) < 0)
        return cu_error_wrap(err, "the figures of VM '%s' from its host '%s'",
                             cu_json_str(vm, "name"), cu_json_str(vm, "host"));
    if (status == 200 && well_formed(reply)) {
        resp->body = reply;
        return 0;
    }
    int r = status == 200 ? cu_error_set(err, 502, HTTP_CLIENT_E_BAD_REPLY, NULL,
                                         "host '%s' sent figures of VM '%s' without the "
                                         "documented fields",
                                         cu_json_str(vm, "host"), cu_json_str(vm, "name"))
                          : host_refused(vm, status, reply, err);
    json_decref(reply);
    return r;
}
