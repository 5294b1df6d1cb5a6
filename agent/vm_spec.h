/* vm_spec.h: the order the control plane sends an agent for one VM (the
 * body of PUT /v1/vms/{id}), parsed and validated.  It is the whole desired
 * state of the VM: sending it twice changes nothing.
 *
 * JSON shape:
 *   {"id": "vm-…", "name": "web-1", "desired_state": "running"|"stopped",
 *    "generation": 3, "operation_id": "op-…"|null,
 *    "stop_mode": "graceful"|"hard", "reboot_request": "…"|null,
 *    "autostart": "always"|"never"|"last" (default "last"),
 *    "vcpus": 1, "memory_mib": 1024, "disk_gib": 25,
 *    "image": {"id", "name", "url", "checksum": "sha256:…"|"sha512:…",
 *              "format": "qcow2"|"raw", "architecture": "x86_64"|"aarch64",
 *              "boot": "uefi"|"kernel",
 *              "kernel_url"?, "kernel_checksum"?, "initrd_url"?,
 *              "initrd_checksum"?, "cmdline"?},
 * URLs may be paths ("/v1/images/…/files/…"): files the control plane
 * serves itself, fetched from it with the agent's credentials.
 *    "cloud_init": {"meta_data": "…", "user_data": "…", "network_config"?: "…"},
 *    "snapshots"?: [{"id": "snap-…", "memory": bool}] (the disk's snapshots, vm_snapshots.h),
 *    "restore"?: {"request": "op-…", "snapshot": "snap-…"} | null,
 *    "export"?: {"image_id": "img-…", "snapshot"?: "snap-…"} | null (vm_export.h)} */
#ifndef CUMULUS_AGENT_VM_SPEC_H
#define CUMULUS_AGENT_VM_SPEC_H

#include <jansson.h>

#include "error.h"

typedef struct vm_image {
    char *id, *name, *url, *checksum, *format, *architecture, *boot;
    char *kernel_url, *initrd_url, *cmdline; /* for boot == "kernel"; may be NULL otherwise */
    char *kernel_checksum, *initrd_checksum;  /* "sha256:…": kernel boot needs them */
} vm_image;

typedef struct vm_spec {
    char *id, *name, *desired_state, *operation_id;
    char *stop_mode;      /* "graceful" (ACPI power button) | "hard" (pull the plug) */
    char *reboot_request; /* a new value asks for one reboot; NULL = none */
    char *autostart;      /* after a host restart: "always" | "never" | "last" (default) */
    long long generation;
    int vcpus;
    long long memory_mib, disk_gib;
    vm_image image;
    char *meta_data, *user_data, *network_config; /* network_config may be NULL */
    json_t *snapshots; /* [{"id": "snap-…", "memory": bool}]: never NULL once parsed */
    char *restore_request, *restore_snapshot; /* a new request restores once; NULL = none */
    char *export_image, *export_snapshot; /* vm_export.h; NULL = none / the disk as it is */
} vm_spec;

int vm_spec_from_json(const json_t *j, vm_spec *out, cu_error **err);
json_t *vm_spec_to_json(const vm_spec *s);
void vm_spec_clear(vm_spec *s);

/* An id the agent uses as a directory name: "vm-" + hex, nothing else. */
int vm_id_check(const char *field, const char *id, cu_error **err);
/* Likewise a snapshot id: "snap-" + hex (it names a snapshot in the disk). */
int vm_snapshot_id_check(const char *field, const char *id, cu_error **err);

#endif
