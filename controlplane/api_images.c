/* api_images.c: /v1/images — the OS images VMs boot from: where to fetch
 * them (URL) and how to check them (checksum), their architecture, format,
 * login user and boot method, and optionally a checksummed kernel and
 * initrd for direct kernel boot.  Images built locally are imported from
 * their manifest and served to agents from here (image_import.h).  An
 * image a VM uses may not be deleted: the agent needs it to (re)build that
 * VM's disk. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cleanup.h"
#include "ids.h"
#include "image_import.h"
#include "json_util.h"
#include "validate.h"

#define IMAGE_COLUMNS                                                                              \
    "seq AS _seq, id, name, os, version, architecture, url, checksum, format, login_user, boot,"    \
    " CASE WHEN kernel_url IS NULL THEN NULL ELSE json_object('url', kernel_url, 'checksum',"      \
    " kernel_checksum, 'cmdline', cmdline) END AS kernel_json,"                                    \
    " CASE WHEN initrd_url IS NULL THEN NULL ELSE json_object('url', initrd_url, 'checksum',"      \
    " initrd_checksum) END AS initrd_json, origin, state, size_bytes, source AS source_json,"      \
    " created_at"

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

/* "kernel" / "initrd": {"url", "checksum", "cmdline"?}: an unverified
 * kernel is never booted, so the checksum is required. */
static int check_boot_file(const json_t *b, const char *key, cu_error **err)
{
    static const cu_json_field fields[] = {{"url", CU_JSON_STRING, true},
                                           {"checksum", CU_JSON_STRING, true},
                                           {"cmdline", CU_JSON_STRING, false},
                                           {NULL}};
    const json_t *o = json_object_get(b, key);
    if (o == NULL)
        return 0;
    char field[32];
    snprintf(field, sizeof(field), "%s.url", key);
    if (cu_json_check_fields(o, fields, err) < 0 ||
        validate_image_url(field, cu_json_str(o, "url"), err) < 0)
        return -1;
    snprintf(field, sizeof(field), "%s.checksum", key);
    if (validate_checksum(field, cu_json_str(o, "checksum"), err) < 0)
        return -1;
    const char *cmdline = cu_json_str(o, "cmdline");
    if (cmdline && strcmp(key, "kernel") != 0)
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "initrd.cmdline",
                            "the command line belongs to the kernel");
    if (cmdline && validate_text("kernel.cmdline", cmdline, 1024, err) < 0)
        return -1;
    return 0;
}

static int check_image(const json_t *b, cu_error **err)
{
    static const cu_json_field fields[] = {
        {"name", CU_JSON_STRING, true},         {"os", CU_JSON_STRING, true},
        {"version", CU_JSON_STRING, true},      {"architecture", CU_JSON_STRING, true},
        {"url", CU_JSON_STRING, true},          {"checksum", CU_JSON_STRING, true},
        {"format", CU_JSON_STRING, false},      {"login_user", CU_JSON_STRING, true},
        {"boot", CU_JSON_STRING, false},        {"kernel", CU_JSON_OBJECT, false},
        {"initrd", CU_JSON_OBJECT, false},      {NULL}};
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
        (boot && validate_enum("boot", boot, boots, err) < 0) ||
        check_boot_file(b, "kernel", err) < 0 || check_boot_file(b, "initrd", err) < 0)
        return -1;
    if (boot && strcmp(boot, "kernel") == 0 && !json_is_object(json_object_get(b, "kernel")))
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "kernel",
                            "an image booted by kernel needs a kernel {url, checksum, cmdline}");
    return 0;
}

/* The columns an image is inserted with; strings may be NULL. */
typedef struct image_row {
    const char *id, *name, *os, *version, *architecture, *url, *checksum, *format, *login_user,
        *boot, *kernel_url, *kernel_checksum, *cmdline, *initrd_url, *initrd_checksum, *origin,
        *local_dir;
} image_row;

static int insert_image(cp_app *app, const image_row *r, cu_error **err)
{
    if (store_exec(app->store, err,
                   "INSERT INTO images (id, name, os, version, architecture, url, checksum, format,"
                   " login_user, boot, kernel_url, kernel_checksum, cmdline, initrd_url,"
                   " initrd_checksum, origin, local_dir) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                   "sssssssssssssssss", r->id, r->name, r->os, r->version, r->architecture, r->url,
                   r->checksum, r->format, r->login_user, r->boot, r->kernel_url,
                   r->kernel_checksum, r->cmdline, r->initrd_url, r->initrd_checksum, r->origin,
                   r->local_dir) < 0)
        return api_exists_error(err, "name", "image", r->name);
    return 0;
}

int api_images_create(http_request *req, http_response *resp, cu_error **err)
{
    const json_t *b = req->body;
    if (check_image(b, err) < 0)
        return -1;
    const char *format = cu_json_str(b, "format"), *boot = cu_json_str(b, "boot");
    const json_t *k = json_object_get(b, "kernel"), *i = json_object_get(b, "initrd");
    _cleanup_free_ char *id = cu_id_new("img");
    image_row row = {.id = id, .name = cu_json_str(b, "name"), .os = cu_json_str(b, "os"),
                     .version = cu_json_str(b, "version"),
                     .architecture = cu_json_str(b, "architecture"), .url = cu_json_str(b, "url"),
                     .checksum = cu_json_str(b, "checksum"), .format = format ? format : "qcow2",
                     .login_user = cu_json_str(b, "login_user"), .boot = boot ? boot : "uefi",
                     .kernel_url = cu_json_str(k, "url"),
                     .kernel_checksum = cu_json_str(k, "checksum"),
                     .cmdline = cu_json_str(k, "cmdline"), .initrd_url = cu_json_str(i, "url"),
                     .initrd_checksum = cu_json_str(i, "checksum"), .origin = "user"};
    if (insert_image(APP(req), &row, err) < 0)
        return -1;
    req->params[0] = steal_ptr(&id);
    resp->status = 201;
    return api_images_get(req, resp, err);
}

static char *files_url(const char *id, const char *file)
{
    char *url = NULL;
    if (file && asprintf(&url, "/v1/images/%s/files/%s", id, file) < 0)
        abort();
    return url;
}

static char *sha256_checksum(const char *hex)
{
    char *c = NULL;
    if (hex && asprintf(&c, "sha256:%s", hex) < 0)
        abort();
    return c;
}

/* A manifest's fields, checked like POST /v1/images checks its body. */
static int check_manifest_image(const json_t *m, const char *name, cu_error **err)
{
    json_auto_t *as_body = json_deep_copy(m);
    json_object_set_new(as_body, "name", json_string(name));
    json_object_set_new(as_body, "url", json_string("https://import.invalid/"));
    json_object_set_new(as_body, "checksum",
                        json_sprintf("sha256:%s", cu_json_str(m, "sha256")));
    static const char *const extra[] = {"file",     "sha256",     "size",     "virtual_size",
                                        "kernel",   "initrd",     "root_uuid", "inputs_hash",
                                        "built_at", NULL};
    for (const char *const *e = extra; *e; e++)
        json_object_del(as_body, *e);
    /* A manifest's kernel is a file checked by its SHA-256 on import, not a
     * {url, checksum} as in a body: the body's rule does not apply. */
    const char *boot = cu_json_str(m, "boot");
    if (boot && strcmp(boot, "kernel") == 0 && json_is_object(json_object_get(m, "kernel")))
        json_object_del(as_body, "boot");
    return check_image(as_body, err);
}

int api_images_import(http_request *req, http_response *resp, cu_error **err)
{
    static const cu_json_field fields[] = {
        {"manifest", CU_JSON_STRING, true}, {"name", CU_JSON_STRING, false}, {NULL}};
    cp_app *app = APP(req);
    if (req->body == NULL)
        return cu_error_set(err, 400, CU_E_INVALID_JSON, NULL,
                            "send {\"manifest\": \"/path/to/manifest.json\"}");
    if (cu_json_check_fields(req->body, fields, err) < 0)
        return -1;
    const char *path = cu_json_str(req->body, "manifest");
    json_auto_t *m = image_manifest_load(path, err);
    if (m == NULL)
        return -1;
    const char *name = cu_json_str(req->body, "name") ? cu_json_str(req->body, "name")
                                                       : cu_json_str(m, "name");
    if (check_manifest_image(m, name, err) < 0)
        return -1;
    /* Before copying gigabytes; the INSERT's constraint still decides. */
    if (store_int(app->store, 0, err, "SELECT count(*) FROM images WHERE name = ?", "s", name) > 0)
        return cu_error_set(err, 409, CU_E_EXISTS, "name", "an image named '%s' already exists",
                            name);
    _cleanup_free_ char *id = cu_id_new("img"), *dir = NULL;
    if (asprintf(&dir, "%s/images/%s", app->data_dir, id) < 0)
        abort();
    if (image_files_import(path, m, dir, err) < 0)
        return -1;
    const json_t *k = json_object_get(m, "kernel"), *i = json_object_get(m, "initrd");
    _cleanup_free_ char *url = files_url(id, cu_json_str(m, "file"));
    _cleanup_free_ char *checksum = sha256_checksum(cu_json_str(m, "sha256"));
    _cleanup_free_ char *kurl = files_url(id, cu_json_str(k, "file"));
    _cleanup_free_ char *ksum = sha256_checksum(cu_json_str(k, "sha256"));
    _cleanup_free_ char *iurl = files_url(id, cu_json_str(i, "file"));
    _cleanup_free_ char *isum = sha256_checksum(cu_json_str(i, "sha256"));
    image_row row = {.id = id, .name = name, .os = cu_json_str(m, "os"),
                     .version = cu_json_str(m, "version"),
                     .architecture = cu_json_str(m, "architecture"), .url = url,
                     .checksum = checksum, .format = cu_json_str(m, "format"),
                     .login_user = cu_json_str(m, "login_user"), .boot = cu_json_str(m, "boot"),
                     .kernel_url = kurl, .kernel_checksum = ksum,
                     .cmdline = cu_json_str(k, "cmdline"), .initrd_url = iurl,
                     .initrd_checksum = isum, .origin = "import", .local_dir = dir};
    if (insert_image(app, &row, err) < 0) {
        image_files_remove(dir);
        return -1;
    }
    req->params[0] = steal_ptr(&id);
    resp->status = 201;
    return api_images_get(req, resp, err);
}

int api_images_file(http_request *req, http_response *resp, cu_error **err)
{
    _cleanup_free_ char *dir = NULL;
    json_t *row = NULL;
    int r = store_get(APP(req)->store, &row, err, "SELECT local_dir FROM images WHERE id = ?",
                      "s", req->params[0]);
    if (r < 0)
        return -1;
    if (r == 0 || cu_json_str(row, "local_dir") == NULL) {
        json_decref(row);
        return cu_error_set(err, 404, CU_E_NOT_FOUND, NULL,
                            "image '%s' has no files here (only imported images do)",
                            req->params[0]);
    }
    dir = strdup(cu_json_str(row, "local_dir"));
    json_decref(row);
    if (dir == NULL)
        abort();
    return image_file_open(dir, req->params[1], &resp->file_fd, &resp->file_size, err);
}

int api_images_delete(http_request *req, http_response *resp, cu_error **err)
{
    json_t *row = NULL;
    if (store_get(APP(req)->store, &row, err,
                  "SELECT local_dir FROM images WHERE id = ?1 OR name = ?1", "s",
                  req->params[0]) < 0)
        return -1;
    _cleanup_free_ char *dir = cu_json_str(row, "local_dir") ? strdup(cu_json_str(row, "local_dir"))
                                                             : NULL;
    json_decref(row);
    if (api_delete_unless_used(req,
                               "SELECT count(*) FROM vms WHERE image_id IN"
                               " (SELECT id FROM images WHERE id = ?1 OR name = ?1)",
                               "DELETE FROM images WHERE id = ?1 OR name = ?1", "image", err) < 0)
        return -1;
    /* Gone from the catalogue (committed): now its files. */
    if (dir)
        image_files_remove(dir);
    return 0;
}
