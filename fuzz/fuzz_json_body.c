/* fuzz_json_body.c: how every REST handler takes a request body apart:
 * cu_json_parse_object() (common/json_util.c, what http_server.c runs on
 * each body), cu_json_check_fields() against the field tables of the
 * routes, and the single-field checks of controlplane/validate.c applied to
 * whatever strings and numbers the body holds.  The input is the body; its
 * first byte also picks the field table, as a route would.  The route
 * matcher (http_route_match) gets the body's "path" member as a path. */
#define _GNU_SOURCE
#include "fuzz.h"

#include "http_server.h"
#include "json_util.h"
#include "validate.h"

/* The field tables of some routes (api_sizes.c, api_keys.c, api_vms.c,
 * api_agents.c), copied: the handlers keep theirs static. */
static const cu_json_field size_fields[] = {{"name", CU_JSON_STRING, true},
                                            {"vcpus", CU_JSON_INTEGER, true},
                                            {"memory_mib", CU_JSON_INTEGER, true},
                                            {"disk_gib", CU_JSON_INTEGER, true},
                                            {NULL}};
static const cu_json_field key_fields[] = {
    {"name", CU_JSON_STRING, true}, {"public_key", CU_JSON_STRING, true}, {NULL}};
static const cu_json_field vm_fields[] = {{"name", CU_JSON_STRING, true},
                                          {"size", CU_JSON_STRING, true},
                                          {"image", CU_JSON_STRING, true},
                                          {"ssh_keys", CU_JSON_STRING_ARRAY, false},
                                          {"user_data", CU_JSON_STRING, false},
                                          {"autostart", CU_JSON_BOOLEAN, false},
                                          {"meta", CU_JSON_OBJECT, false},
                                          {"disks", CU_JSON_ARRAY, false},
                                          {"path", CU_JSON_STRING, false},
                                          {NULL}};
static const cu_json_field *const tables[] = {size_fields, key_fields, vm_fields};

static const char *const patterns[] = {"/v1/vms/{id}/actions", "/v1/images/{id}/files/{file}",
                                       "/v1/vms/{id}/snapshots/{snapshot}/restore", "/v1/health"};

/* What a handler's error becomes at the boundary (http_server.c). */
static void report(cu_error **err)
{
    if (*err == NULL)
        return;
    FUZZ_CHECK((*err)->status == 400);
    json_t *doc = cu_json_error_doc(*err);
    char *text = cu_json_dump(doc);
    free(text);
    json_decref(doc);
    cu_error_freep(err);
}

static void check_value(const char *field, const json_t *v)
{
    static const char *const states[] = {"running", "stopped", "deleted", NULL};
    cu_error *err = NULL;
    long long n;
    json_t *holder = json_pack("{s:O}", field, v);
    validate_int(holder, field, -5, 1LL << 40, &n, &err);
    report(&err);
    json_decref(holder);
    const char *s = json_string_value(v);
    if (s == NULL)
        return;
    int (*const checks[])(const char *, const char *, cu_error **) = {
        validate_dns_label, validate_checksum, validate_image_url, validate_username};
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        checks[i](field, s, &err);
        report(&err);
    }
    validate_enum(field, s, states, &err);
    report(&err);
    validate_text(field, s, 200, &err);
    report(&err);
}

static void match_path(const char *path)
{
    for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
        char *params[HTTP_MAX_PARAMS] = {0};
        if (http_route_match(patterns[i], path, params))
            for (int k = 0; k < HTTP_MAX_PARAMS; k++)
                free(params[k]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cu_error *err = NULL;
    json_t *body = cu_json_parse_object((const char *)data, size, &err);
    if (body == NULL) {
        FUZZ_CHECK(err != NULL);
        report(&err); /* what the client gets */
        return 0;
    }
    const cu_json_field *fields = tables[data[0] % 3];
    if (cu_json_check_fields(body, fields, &err) < 0)
        report(&err);
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v) check_value(key, v);
    const char *path = cu_json_str(body, "path");
    if (path)
        match_path(path);
    char *dump = cu_json_dump(body);
    free(dump);
    json_decref(body);
    return 0;
}
