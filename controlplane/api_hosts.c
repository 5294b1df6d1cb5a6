/* api_hosts.c: /v1/hosts — the machines whose agents run VMs, with their
 * capacity, what is free, and whether they are up. */
#include "api.h"

#define HOST_COLUMNS                                                                               \
    "seq AS _seq, id, name, address, architecture, accelerators AS accelerators_json,"             \
    " emulated_architectures AS emulated_architectures_json, vcpus,"                               \
    " memory_mib, disk_gib, free_vcpus, free_memory_mib, free_disk_gib, qemu_version, state,"      \
    " last_heartbeat, created_at"

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
