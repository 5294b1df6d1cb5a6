/* api_images.c: /v1/images — the OS images VMs boot from: where to fetch
 * them (URL) and how to check them (checksum), their architecture, format,
 * login user and boot method.  An image a VM uses may not be deleted: the
 * agent needs it to (re)build that VM's disk. */
#define _GNU_SOURCE
#include <stdlib.h>

#include "api.h"
#include "cleanup.h"
#include "ids.h"
#include "json_util.h"
#include "validate.h"

#define IMAGE_COLUMNS                                                                              \
    "seq AS _seq, id, name, os, version, architecture, url, checksum, format, login_user, boot,"    \
    " origin, created_at"

int api_images_list(http_request *req, http_response *resp, cu_error **err)
{
    return api_list_simple(
        req, resp, "SELECT " IMAGE_COLUMNS " FROM images WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        "images", err);
}

int api_images_get(http_request *req, http_response *resp, cu_error **err)
{
    return api_get_by_ref(req, resp,
                          "SELECT " IMAGE_COLUMNS " FROM images WHERE id = ?1 OR name = ?1",
                          "image", err);
}

static const char *const architectures[] = {"x86_64", "aarch64", NULL};
static const char *const formats[] = {"qcow2", "raw", NULL};
static const char *const boots[] = {"uefi", "kernel", NULL};

static int check_image(const json_t *b, cu_error **err)
{
    static const cu_json_field fields[] = {
        {"name", CU_JSON_STRING, true},         {"os", CU_JSON_STRING, true},
        {"version", CU_JSON_STRING, true},      {"architecture", CU_JSON_STRING, true},
        {"url", CU_JSON_STRING, true},          {"checksum", CU_JSON_STRING, true},
        {"format", CU_JSON_STRING, false},      {"login_user", CU_JSON_STRING, true},
        {"boot", CU_JSON_STRING, false},        {NULL}};
    if (b == NULL)
        return cu_error_set(err, 400, CU_E_INVALID_JSON, NULL,
                            "send a JSON object describing the image (see /v1/openapi.json)");
    const char *format = cu_json_str(b, "format"), *boot = cu_json_str(b, "boot");
    if (cu_json_check_fields(b, fields, err) < 0 ||
        validate_dns_label("name", cu_json_str(b, "name"), err) < 0 ||
        validate_dns_label("os", cu_json_str(b, "os"), err) < 0 ||
        validate_text("version", cu_json_str(b, "version"), 32, err) < 0 ||
        validate_enum("architecture", cu_json_str(b, "architecture"), architectures, err) < 0 ||
        validate_image_url("url", cu_json_str(b, "url"), err) < 0 ||
        validate_checksum("checksum", cu_json_str(b, "checksum"), err) < 0 ||
        (format && validate_enum("format", format, formats, err) < 0) ||
        validate_username("login_user", cu_json_str(b, "login_user"), err) < 0 ||
        (boot && validate_enum("boot", boot, boots, err) < 0))
        return -1;
    return 0;
}

int api_images_create(http_request *req, http_response *resp, cu_error **err)
{
    const json_t *b = req->body;
    if (check_image(b, err) < 0)
        return -1;
    const char *format = cu_json_str(b, "format"), *boot = cu_json_str(b, "boot");
    _cleanup_free_ char *id = cu_id_new("img");
    if (store_exec(APP(req)->store, err,
                   "INSERT INTO images (id, name, os, version, architecture, url, checksum, format,"
                   " login_user, boot) VALUES (?,?,?,?,?,?,?,?,?,?)",
                   "ssssssssss", id, cu_json_str(b, "name"), cu_json_str(b, "os"),
                   cu_json_str(b, "version"), cu_json_str(b, "architecture"),
                   cu_json_str(b, "url"), cu_json_str(b, "checksum"), format ? format : "qcow2",
                   cu_json_str(b, "login_user"), boot ? boot : "uefi") < 0)
        return api_exists_error(err, "name", "image", cu_json_str(b, "name"));
    req->params[0] = steal_ptr(&id);
    resp->status = 201;
    return api_images_get(req, resp, err);
}

int api_images_delete(http_request *req, http_response *resp, cu_error **err)
{
    return api_delete_unless_used(
        req, "SELECT count(*) FROM vms WHERE image_id IN (SELECT id FROM images WHERE id = ?1 OR name = ?1)",
        "DELETE FROM images WHERE id = ?1 OR name = ?1", "image", err);
}
