/* vm_spec.c: see vm_spec.h.  Every field is checked here, before any of
 * it reaches a file name or a QEMU argument. */
#define _GNU_SOURCE
#include "vm_spec.h"

#include <stdlib.h>
#include <string.h>

#include "json_util.h"

static char *dup_or_null(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        abort();
    return d;
}

/* prefix + 1 to 36 hex digits. */
static int hex_id(const char *id, const char *prefix)
{
    size_t n = id ? strlen(id) : 0, p = strlen(prefix);
    int ok = n > p && n <= p + 36 && strncmp(id, prefix, p) == 0;
    for (size_t i = p; ok && i < n; i++)
        ok = (id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f');
    return ok;
}

/* An id the agent uses as a directory name: "vm-" + hex, nothing else. */
int vm_id_check(const char *field, const char *id, cu_error **err)
{
    if (!hex_id(id, "vm-"))
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, field,
                            "%s '%s' is not a VM id (vm- and hex digits)", field, id ? id : "");
    return 0;
}

int vm_snapshot_id_check(const char *field, const char *id, cu_error **err)
{
    if (!hex_id(id, "snap-"))
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, field,
                            "%s '%s' is not a snapshot id (snap- and hex digits)", field,
                            id ? id : "");
    return 0;
}

/* "snapshots" and "restore"; out->snapshots is set (an empty list when absent). */
static int parse_snapshots(const json_t *j, vm_spec *out, cu_error **err)
{
    static const cu_json_field snap_fields[] = {
        {"id", CU_JSON_STRING, true}, {"memory", CU_JSON_BOOLEAN, false}, {NULL}};
    static const cu_json_field restore_fields[] = {
        {"request", CU_JSON_STRING, true}, {"snapshot", CU_JSON_STRING, true}, {NULL}};
    const json_t *list = json_object_get(j, "snapshots");
    const json_t *rs = json_object_get(j, "restore");
    if (list && !json_is_array(list))
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "snapshots", "snapshots must be a list");
    if (json_array_size(list) > 256)
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "snapshots",
                            "at most 256 snapshots per VM");
    size_t i;
    const json_t *e;
    json_array_foreach(list, i, e)
    {
        if (!json_is_object(e))
            return cu_error_set(err, 400, CU_E_INVALID_FIELD, "snapshots",
                                "each snapshot is {\"id\", \"memory\"}");
        if (cu_json_check_fields(e, snap_fields, err) < 0 ||
            vm_snapshot_id_check("snapshots.id", cu_json_str(e, "id"), err) < 0)
            return -1;
    }
    if (rs && !json_is_null(rs)) {
        if (cu_json_check_fields(rs, restore_fields, err) < 0 ||
            vm_snapshot_id_check("restore.snapshot", cu_json_str(rs, "snapshot"), err) < 0)
            return -1;
        if (strlen(cu_json_str(rs, "request")) >= 64)
            return cu_error_set(err, 400, CU_E_INVALID_FIELD, "restore.request",
                                "restore.request is at most 63 characters");
        out->restore_request = dup_or_null(rs, "request");
        out->restore_snapshot = dup_or_null(rs, "snapshot");
    }
    out->snapshots = list ? json_deep_copy(list) : json_array();
    return 0;
}

/* "export": {"image_id", "snapshot"?}. */
static int parse_export(const json_t *j, vm_spec *out, cu_error **err)
{
    static const cu_json_field fields[] = {
        {"image_id", CU_JSON_STRING, true}, {"snapshot", CU_JSON_STRING, false}, {NULL}};
    const json_t *ex = json_object_get(j, "export");
    if (ex == NULL || json_is_null(ex))
        return 0;
    const char *snap = cu_json_str(ex, "snapshot");
    if (cu_json_check_fields(ex, fields, err) < 0 ||
        (snap && vm_snapshot_id_check("export.snapshot", snap, err) < 0))
        return -1;
    if (!hex_id(cu_json_str(ex, "image_id"), "img-"))
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "export.image_id",
                            "export.image_id is not an image id (img- and hex digits)");
    out->export_image = dup_or_null(ex, "image_id");
    out->export_snapshot = dup_or_null(ex, "snapshot");
    return 0;
}

static int one_of(const char *field, const char *v, const char *a, const char *b, cu_error **err)
{
    if (v && (strcmp(v, a) == 0 || strcmp(v, b) == 0))
        return 0;
    return cu_error_set(err, 400, CU_E_INVALID_FIELD, field, "%s must be '%s' or '%s'", field, a,
                        b);
}

static int parse_image(const json_t *img, vm_image *out, cu_error **err)
{
    static const cu_json_field fields[] = {
        {"id", CU_JSON_STRING, true},          {"name", CU_JSON_STRING, true},
        {"url", CU_JSON_STRING, true},         {"checksum", CU_JSON_STRING, true},
        {"format", CU_JSON_STRING, true},      {"architecture", CU_JSON_STRING, true},
        {"boot", CU_JSON_STRING, true},        {"kernel_url", CU_JSON_STRING, false},
        {"initrd_url", CU_JSON_STRING, false}, {"cmdline", CU_JSON_STRING, false},
        {"kernel_checksum", CU_JSON_STRING, false}, {"initrd_checksum", CU_JSON_STRING, false},
        {NULL}};
    if (!json_is_object(img))
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "image", "image must be an object");
    if (cu_json_check_fields(img, fields, err) < 0 ||
        one_of("image.format", cu_json_str(img, "format"), "qcow2", "raw", err) < 0 ||
        one_of("image.architecture", cu_json_str(img, "architecture"), "x86_64", "aarch64",
               err) < 0 ||
        one_of("image.boot", cu_json_str(img, "boot"), "uefi", "kernel", err) < 0)
        return -1;
    /* Never boot a kernel or initrd nobody can verify. */
    if (strcmp(cu_json_str(img, "boot"), "kernel") == 0 &&
        (!cu_json_str(img, "kernel_url") || !cu_json_str(img, "kernel_checksum")))
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "image.kernel_url",
                            "an image booted by kernel needs kernel_url and kernel_checksum");
    if (cu_json_str(img, "initrd_url") && !cu_json_str(img, "initrd_checksum"))
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "image.initrd_checksum",
                            "an initrd needs initrd_checksum");
    out->id = dup_or_null(img, "id");
    out->name = dup_or_null(img, "name");
    out->url = dup_or_null(img, "url");
    out->checksum = dup_or_null(img, "checksum");
    out->format = dup_or_null(img, "format");
    out->architecture = dup_or_null(img, "architecture");
    out->boot = dup_or_null(img, "boot");
    out->kernel_url = dup_or_null(img, "kernel_url");
    out->initrd_url = dup_or_null(img, "initrd_url");
    out->cmdline = dup_or_null(img, "cmdline");
    out->kernel_checksum = dup_or_null(img, "kernel_checksum");
    out->initrd_checksum = dup_or_null(img, "initrd_checksum");
    return 0;
}

static int parse_sizes(const json_t *j, vm_spec *out, cu_error **err)
{
    long long v = json_integer_value(json_object_get(j, "vcpus"));
    long long m = json_integer_value(json_object_get(j, "memory_mib"));
    long long d = json_integer_value(json_object_get(j, "disk_gib"));
    if (v < 1 || v > 256)
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "vcpus", "vcpus must be 1 to 256");
    if (m < 64 || m > (1LL << 22))
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "memory_mib",
                            "memory_mib must be 64 to 4194304");
    if (d < 1 || d > (1LL << 16))
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "disk_gib", "disk_gib must be 1 to 65536");
    out->vcpus = (int)v;
    out->memory_mib = m;
    out->disk_gib = d;
    return 0;
}

int vm_spec_from_json(const json_t *j, vm_spec *out, cu_error **err)
{
    static const cu_json_field fields[] = {
        {"id", CU_JSON_STRING, true},         {"name", CU_JSON_STRING, true},
        {"desired_state", CU_JSON_STRING, true}, {"generation", CU_JSON_INTEGER, true},
        {"operation_id", CU_JSON_STRING, false}, {"vcpus", CU_JSON_INTEGER, true},
        {"memory_mib", CU_JSON_INTEGER, true}, {"disk_gib", CU_JSON_INTEGER, true},
        {"stop_mode", CU_JSON_STRING, false},  {"reboot_request", CU_JSON_STRING, false},
        {"image", CU_JSON_OBJECT, true},       {"cloud_init", CU_JSON_OBJECT, true},
        {"autostart", CU_JSON_STRING, false},  {"snapshots", CU_JSON_ARRAY, false},
        {"restore", CU_JSON_OBJECT, false},    {"export", CU_JSON_OBJECT, false},
        {NULL}};
    static const cu_json_field ci_fields[] = {{"meta_data", CU_JSON_STRING, true},
                                              {"user_data", CU_JSON_STRING, true},
                                              {"network_config", CU_JSON_STRING, false},
                                              {NULL}};
    memset(out, 0, sizeof(*out));
    const json_t *ci = json_object_get(j, "cloud_init");
    const char *stop = cu_json_str(j, "stop_mode");
    const char *autostart = cu_json_str(j, "autostart");
    if (!json_is_object(j))
        return cu_error_set(err, 400, CU_E_INVALID_JSON, NULL, "the spec must be a JSON object");
    if (cu_json_check_fields(j, fields, err) < 0 || vm_id_check("id", cu_json_str(j, "id"), err) < 0 ||
        one_of("desired_state", cu_json_str(j, "desired_state"), "running", "stopped", err) < 0 ||
        (stop && one_of("stop_mode", stop, "graceful", "hard", err) < 0) ||
        (autostart && strcmp(autostart, "last") != 0 &&
         one_of("autostart", autostart, "always", "never", err) < 0) ||
        parse_sizes(j, out, err) < 0 || cu_json_check_fields(ci, ci_fields, err) < 0 ||
        parse_image(json_object_get(j, "image"), &out->image, err) < 0 ||
        parse_snapshots(j, out, err) < 0 || parse_export(j, out, err) < 0) {
        vm_spec_clear(out);
        return -1;
    }
    out->id = dup_or_null(j, "id");
    out->name = dup_or_null(j, "name");
    out->desired_state = dup_or_null(j, "desired_state");
    out->operation_id = dup_or_null(j, "operation_id");
    out->stop_mode = stop ? strdup(stop) : strdup("graceful");
    out->reboot_request = dup_or_null(j, "reboot_request");
    out->autostart = strdup(autostart ? autostart : "last");
    out->generation = json_integer_value(json_object_get(j, "generation"));
    out->meta_data = dup_or_null(ci, "meta_data");
    out->user_data = dup_or_null(ci, "user_data");
    out->network_config = dup_or_null(ci, "network_config");
    return 0;
}

json_t *vm_spec_to_json(const vm_spec *s)
{
    const vm_image *i = &s->image;
    json_t *img = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s?}", "id", i->id, "name",
        i->name, "url", i->url, "checksum", i->checksum, "format", i->format, "architecture",
        i->architecture, "boot", i->boot, "kernel_url", i->kernel_url, "initrd_url",
        i->initrd_url, "cmdline", i->cmdline, "kernel_checksum", i->kernel_checksum,
        "initrd_checksum", i->initrd_checksum);
    json_t *ci = json_pack("{s:s, s:s, s:s?}", "meta_data", s->meta_data, "user_data",
                           s->user_data, "network_config", s->network_config);
    json_t *restore = s->restore_request ? json_pack("{s:s, s:s}", "request", s->restore_request,
                                                     "snapshot", s->restore_snapshot)
                                         : json_null();
    json_t *export = s->export_image ? json_pack("{s:s, s:s?}", "image_id", s->export_image,
                                                 "snapshot", s->export_snapshot)
                                     : json_null();
    return json_pack(
        "{s:s, s:s, s:s, s:I, s:s?, s:i, s:I, s:I, s:s, s:s?, s:s, s:o, s:o, s:o, s:o, s:o}", "id",
        s->id, "name", s->name, "desired_state", s->desired_state, "generation", s->generation,
        "operation_id", s->operation_id, "vcpus", s->vcpus, "memory_mib", s->memory_mib,
        "disk_gib", s->disk_gib, "stop_mode", s->stop_mode, "reboot_request", s->reboot_request,
        "autostart", s->autostart, "image", img, "cloud_init", ci, "snapshots",
        s->snapshots ? json_deep_copy(s->snapshots) : json_array(), "restore", restore, "export", export);
}

void vm_spec_clear(vm_spec *s)
{
    char **fields[] = {&s->id,          &s->name,           &s->desired_state,  &s->autostart,
                       &s->operation_id, &s->stop_mode,     &s->reboot_request,
                       &s->meta_data,   &s->user_data,      &s->network_config,
                       &s->image.id,    &s->image.name,     &s->image.url,
                       &s->image.checksum, &s->image.format, &s->image.architecture,
                       &s->image.boot,  &s->image.kernel_url, &s->image.initrd_url,
                       &s->image.cmdline, &s->image.kernel_checksum, &s->image.initrd_checksum,
                       &s->restore_request, &s->restore_snapshot, &s->export_image,
                       &s->export_snapshot};
    json_decref(s->snapshots);
    s->snapshots = NULL;
    for (size_t i = 0; i < sizeof(fields) / sizeof(*fields); i++) {
        free(*fields[i]);
        *fields[i] = NULL;
    }
}
