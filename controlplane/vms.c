/* vms.c: see vms.h. */
#define _GNU_SOURCE
#include "vms.h"

#include <stdio.h>
#include <stdlib.h>

#include "cloudinit.h"
#include "image_export.h"
#include "json_util.h"
#include "snapshots.h"
#include "store.h"

json_t *vm_row_to_api(json_t *row)
{
    json_object_del(row, "_seq");
    const char *user = json_string_value(json_object_get(row, "login_user"));
    const char *addr = json_string_value(json_object_get(row, "host_address"));
    json_t *port = json_object_get(row, "ssh_port");
    json_t *ssh = json_null();
    if (user && addr && json_is_integer(port)) {
        char *cmd = NULL;
        if (asprintf(&cmd, "ssh -p %lld %s@%s", (long long)json_integer_value(port), user, addr) <
            0)
            abort();
        ssh = json_pack("{s:s, s:s, s:O, s:s}", "user", user, "host", addr, "port", port,
                        "command", cmd);
        free(cmd);
    }
    json_object_set_new(row, "ssh", ssh);
    json_object_del(row, "host_address");
    json_object_set_new(row, "emulated",
                        json_boolean(json_integer_value(json_object_get(row, "emulated"))));
    return row;
}

int vm_lookup(cp_app *app, const char *ref, json_t **vm, cu_error **err)
{
    json_t *row = NULL;
    int r = store_get(app->store, &row, err, VM_SELECT " WHERE v.id = ?1 OR v.name = ?1", "s",
                      ref);
    if (r == 1)
        *vm = vm_row_to_api(row);
    return r;
}

int vm_render_cloud_init(cp_app *app, const char *ref, char **meta_data, char **user_data,
                         cu_error **err)
{
    json_t *row = NULL;
    int r = store_get(app->store, &row, err,
                      "SELECT v.id, v.name, v.ssh_keys AS ssh_keys_json, v.user_data, i.login_user,"
                      " i.origin IN ('snapshot', 'bake') AS from_vm,"
                      " v.bake_image IS NOT NULL AS bake"
                      " FROM vms v JOIN images i ON i.id = v.image_id"
                      " WHERE v.id = ?1 OR v.name = ?1",
                      "s", ref);
    if (r <= 0)
        return r < 0 ? -1 : cu_error_set(err, 404, CU_E_NOT_FOUND, NULL, "no VM '%s'", ref);
    json_t *keys = json_object_get(row, "ssh_keys");
    size_t n = json_array_size(keys);
    const char **lines = calloc(n + 1, sizeof(char *));
    if (lines == NULL)
        abort();
    for (size_t i = 0; i < n; i++)
        lines[i] = cu_json_str(json_array_get(keys, i), "public_key");
    ci_input in = {.instance_id = cu_json_str(row, "id"),
                   .hostname = cu_json_str(row, "name"),
                   .login_user = cu_json_str(row, "login_user"),
                   .ssh_keys = lines,
                   .user_data = cu_json_str(row, "user_data"),
                   .new_machine_id = json_integer_value(json_object_get(row, "from_vm")) != 0,
                   .bake = json_integer_value(json_object_get(row, "bake")) != 0};
    *meta_data = cloudinit_render_meta_data(&in, err);
    *user_data = *meta_data ? cloudinit_render_user_data(&in, err) : NULL;
    free(lines);
    json_decref(row);
    if (*user_data == NULL) {
        free(*meta_data);
        *meta_data = NULL;
        return -1;
    }
    return 0;
}

#define SPEC_SELECT                                                                                \
    "SELECT v.id, v.name, v.desired_state, v.generation, v.vcpus, v.memory_mib, v.disk_gib,"       \
    " v.stop_mode, v.reboot_request, v.autostart, i.id AS image_id, i.name AS image_name, i.url, i.checksum,"   \
    " i.format, i.architecture, COALESCE(v.boot, i.boot) AS boot, i.kernel_url, i.initrd_url,"     \
    " i.cmdline, i.kernel_checksum, i.initrd_checksum,"                                            \
    " (SELECT o.id FROM operations o WHERE o.target_id = v.id AND o.status IN"                     \
    "  ('pending','running') ORDER BY o.seq DESC LIMIT 1) AS operation_id"                         \
    " FROM vms v JOIN images i ON i.id = v.image_id WHERE v.id = ?"

/* Moves `key` of `from` into `to` under `as` (NULL values are dropped). */
static void move(json_t *to, const char *as, json_t *from, const char *key)
{
    json_t *v = json_object_get(from, key);
    if (v && !json_is_null(v))
        json_object_set(to, as, v);
    json_object_del(from, key);
}

json_t *vm_build_spec(cp_app *app, const char *vm_id, cu_error **err)
{
    json_t *spec = NULL;
    int r = store_get(app->store, &spec, err, SPEC_SELECT, "s", vm_id);
    if (r <= 0) {
        if (r == 0)
            cu_error_set(err, 404, CU_E_NOT_FOUND, NULL, "no VM '%s'", vm_id);
        return NULL;
    }
    json_t *image = json_object();
    move(image, "id", spec, "image_id");
    move(image, "name", spec, "image_name");
    static const char *const image_keys[] = {"url",        "checksum",        "format",
                                             "architecture", "boot",          "kernel_url",
                                             "initrd_url", "cmdline",         "kernel_checksum",
                                             "initrd_checksum"};
    for (size_t i = 0; i < sizeof(image_keys) / sizeof(*image_keys); i++)
        move(image, image_keys[i], spec, image_keys[i]);
    json_object_set_new(spec, "image", image);
    char *meta = NULL, *user = NULL;
    if (vm_render_cloud_init(app, vm_id, &meta, &user, err) < 0) {
        json_decref(spec);
        return NULL;
    }
    json_object_set_new(spec, "cloud_init",
                        json_pack("{s:s, s:s}", "meta_data", meta, "user_data", user));
    free(meta);
    free(user);
    if (snapshots_add_to_spec(app, vm_id, spec, err) < 0 ||
        image_export_add_to_spec(app, vm_id, spec, err) < 0) {
        json_decref(spec);
        return NULL;
    }
    return spec;
}
