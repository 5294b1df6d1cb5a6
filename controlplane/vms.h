/* vms.h: reading VMs in the API's shape, shared by the VM handlers. */
#ifndef CUMULUS_CP_VMS_H
#define CUMULUS_CP_VMS_H

#include <jansson.h>

#include "app.h"

#define VM_SELECT                                                                                  \
    "SELECT v.seq AS _seq, v.id, v.name, v.desired_state, v.state, v.size, v.vcpus,"               \
    " v.memory_mib, v.disk_gib, i.name AS image, i.architecture, i.login_user,"                    \
    " v.ssh_keys AS ssh_keys_json, v.host_id, h.name AS host, h.address AS host_address,"          \
    " v.ssh_port, COALESCE(v.boot, i.boot) AS boot, v.autostart, v.guest_state, v.guest_message,"  \
    " v.boot_seconds, h.architecture IS NOT NULL AND h.architecture != i.architecture AS emulated," \
    " v.run_id, v.created_at, v.updated_at"                                                        \
    " FROM vms v JOIN images i ON i.id = v.image_id LEFT JOIN hosts h ON h.id = v.host_id"

/* Adds the derived "ssh" member (user, host, port, command) once the port
 * is known, and drops columns that are only inputs to it. */
json_t *vm_row_to_api(json_t *row);

/* Looks a VM up by id or name: 1 (*vm set), 0 none, -1 error. */
int vm_lookup(cp_app *app, const char *ref, json_t **vm, cu_error **err);

/* 409 busy naming the operation in flight on the VM, if any: -1; else 0. */
int vm_refuse_busy(cp_app *app, const json_t *vm, cu_error **err);

/* Renders the VM's cloud-init seed: meta-data and user-data (malloc'd). */
int vm_render_cloud_init(cp_app *app, const char *ref, char **meta_data, char **user_data,
                         cu_error **err);

/* The whole order for a VM's host (agent/vm_spec.h describes the shape). */
json_t *vm_build_spec(cp_app *app, const char *vm_id, cu_error **err);

#endif
