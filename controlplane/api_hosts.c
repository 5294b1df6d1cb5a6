/* api_hosts.c: /v1/hosts — the machines whose agents run VMs, with their
 * capacity, what is free, whether they are up, and whether they are
 * drained (taken out of placement: their VMs keep running, no new VM goes
 * there until the host is returned). */
#define _GNU_SOURCE
#include <string.h>

#include "api.h"
#include "json_util.h"
#include "validate.h"

#define HOST_COLUMNS                                                                               \
    "seq AS _seq, id, name, address, architecture, accelerators AS accelerators_json,"             \
    " emulated_architectures AS emulated_architectures_json, vcpus,"                               \
    " memory_mib, disk_gib, free_vcpus, free_memory_mib, free_disk_gib, qemu_version, state,"      \
    " CASE WHEN drained THEN 'true' ELSE 'false' END AS drained_json, last_heartbeat, created_at"

int api_hosts_list(http_request *req, http_response *resp, cu_error **err)
{
    return api_list_simple(
        req, resp, "SELECT " HOST_COLUMNS " FROM hosts WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        "hosts", err);
}

int api_hosts_get(http_request *req, http_response *resp, cu_error **err)
{
    return api_get_by_ref(req, resp,
                          "SELECT " HOST_COLUMNS " FROM hosts WHERE id = ?1 OR name = ?1", "host",
                          err);
}

/* POST /v1/hosts/{id}/actions {"type": "drain" | "return"}: idempotent. */
int api_hosts_action(http_request *req, http_response *resp, cu_error **err)
{
    static const cu_json_field fields[] = {{"type", CU_JSON_STRING, true}, {NULL}};
    static const char *const types[] = {"drain", "return", NULL};
    const json_t *b = req->body;
    if (b == NULL)
        return cu_error_set(err, 400, CU_E_INVALID_JSON, NULL,
                            "send {\"type\": \"drain\"} or {\"type\": \"return\"}");
    if (cu_json_check_fields(b, fields, err) < 0 ||
        validate_enum("type", cu_json_str(b, "type"), types, err) < 0)
        return -1;
    int drain = strcmp(cu_json_str(b, "type"), "drain") == 0;
    int n = store_exec(APP(req)->store, err, "UPDATE hosts SET drained = ? WHERE id = ?2 OR name = ?2",
                       "is", (long long)drain, req->params[0]);
    if (n < 0)
        return -1;
    if (n == 0)
        return api_not_found(err, "host", req->params[0]);
    return api_hosts_get(req, resp, err);
}
