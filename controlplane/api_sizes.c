/* api_sizes.c: /v1/sizes — the instance sizes a VM can be created with
 * (vCPUs, memory, disk).  A VM keeps a copy of its size's figures, so a
 * size in use may not be deleted only because the catalogue would lie. */
#define _GNU_SOURCE
#include <stdlib.h>

#include "api.h"
#include "cleanup.h"
#include "ids.h"
#include "json_util.h"
#include "validate.h"

#define SIZE_COLUMNS "seq AS _seq, id, name, vcpus, memory_mib, disk_gib, created_at"

int api_sizes_list(http_request *req, http_response *resp, cu_error **err)
{
    return api_list_simple(req, resp,
                           "SELECT " SIZE_COLUMNS " FROM sizes WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                           "sizes", err);
}

int api_sizes_get(http_request *req, http_response *resp, cu_error **err)
{
    return api_get_by_ref(req, resp,
                          "SELECT " SIZE_COLUMNS " FROM sizes WHERE id = ?1 OR name = ?1", "size",
                          err);
}

int api_sizes_create(http_request *req, http_response *resp, cu_error **err)
{
    static const cu_json_field fields[] = {{"name", CU_JSON_STRING, true},
                                           {"vcpus", CU_JSON_INTEGER, true},
                                           {"memory_mib", CU_JSON_INTEGER, true},
                                           {"disk_gib", CU_JSON_INTEGER, true},
                                           {NULL}};
    long long vcpus, memory, disk;
    const json_t *b = req->body;
    if (b == NULL)
        return cu_error_set(err, 400, CU_E_INVALID_JSON, NULL,
                            "send a JSON object: {\"name\", \"vcpus\", \"memory_mib\", \"disk_gib\"}");
    const char *name = cu_json_str(b, "name");
    if (cu_json_check_fields(b, fields, err) < 0 || validate_dns_label("name", name, err) < 0 ||
        validate_int(b, "vcpus", 1, 128, &vcpus, err) < 0 ||
        validate_int(b, "memory_mib", 128, 4 * 1024 * 1024, &memory, err) < 0 ||
        validate_int(b, "disk_gib", 1, 64 * 1024, &disk, err) < 0)
        return -1;
    _cleanup_free_ char *id = cu_id_new("size");
    if (store_exec(APP(req)->store, err,
                   "INSERT INTO sizes (id, name, vcpus, memory_mib, disk_gib) VALUES (?,?,?,?,?)",
                   "ssiii", id, name, vcpus, memory, disk) < 0)
        return api_exists_error(err, "name", "size", name);
    req->params[0] = steal_ptr(&id);
    resp->status = 201;
    return api_sizes_get(req, resp, err);
}

int api_sizes_delete(http_request *req, http_response *resp, cu_error **err)
{
    return api_delete_unless_used(
        req, "SELECT count(*) FROM vms WHERE size IN (SELECT name FROM sizes WHERE id = ?1 OR name = ?1)",
        "DELETE FROM sizes WHERE id = ?1 OR name = ?1", "size", err);
}
