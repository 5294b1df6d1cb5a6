/* api_keys.c: /v1/ssh-keys — public keys a VM can be created with.  Keys
 * are validated and fingerprinted as `ssh-keygen -lf` does.  A VM keeps
 * copies of its keys, so deleting a key never locks anyone out of a
 * running VM (as with DigitalOcean). */
#define _GNU_SOURCE
#include <stdlib.h>

#include "api.h"
#include "cleanup.h"
#include "ids.h"
#include "json_util.h"
#include "sshkey.h"
#include "validate.h"

#define KEY_COLUMNS "seq AS _seq, id, name, type, bits, fingerprint, comment, public_key, created_at"

int api_keys_list(http_request *req, http_response *resp, cu_error **err)
{
    return api_list_simple(
        req, resp, "SELECT " KEY_COLUMNS " FROM ssh_keys WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        "ssh_keys", err);
}

int api_keys_get(http_request *req, http_response *resp, cu_error **err)
{
    return api_get_by_ref(req, resp,
                          "SELECT " KEY_COLUMNS " FROM ssh_keys WHERE id = ?1 OR name = ?1",
                          "SSH key", err);
}

int api_keys_create(http_request *req, http_response *resp, cu_error **err)
{
    static const cu_json_field fields[] = {
        {"name", CU_JSON_STRING, true}, {"public_key", CU_JSON_STRING, true}, {NULL}};
    const json_t *b = req->body;
    if (b == NULL)
        return cu_error_set(err, 400, CU_E_INVALID_JSON, NULL,
                            "send a JSON object: {\"name\", \"public_key\"}");
    const char *name = cu_json_str(b, "name");
    if (cu_json_check_fields(b, fields, err) < 0 || validate_dns_label("name", name, err) < 0)
        return -1;
    sshkey_info key = {0};
    if (sshkey_parse(cu_json_str(b, "public_key"), &key, err) < 0)
        return -1;
    _cleanup_free_ char *id = cu_id_new("key");
    int r = store_exec(APP(req)->store, err,
                       "INSERT INTO ssh_keys (id, name, type, bits, fingerprint, comment,"
                       " public_key) VALUES (?,?,?,?,?,?,?)",
                       "sssisss", id, name, key.type, (long long)key.bits, key.fingerprint,
                       key.comment, key.normalized);
    if (r < 0) {
        int same_key = (*err)->status == 409 &&
                       store_int(APP(req)->store, 0, NULL,
                                 "SELECT count(*) FROM ssh_keys WHERE fingerprint = ?", "s",
                                 key.fingerprint) > 0;
        if (same_key) {
            cu_error_freep(err);
            cu_error_set(err, 409, CU_E_EXISTS, "public_key", "this key (%s) is already stored",
                         key.fingerprint);
        } else {
            api_exists_error(err, "name", "SSH key", name);
        }
    }
    sshkey_info_clear(&key);
    if (r < 0)
        return -1;
    req->params[0] = steal_ptr(&id);
    resp->status = 201;
    return api_keys_get(req, resp, err);
}

int api_keys_delete(http_request *req, http_response *resp, cu_error **err)
{
    return api_delete_unless_used(
        req, NULL, "DELETE FROM ssh_keys WHERE id = ?1 OR name = ?1",
        "SSH key", err);
}
