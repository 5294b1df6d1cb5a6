/* vm_export.h: a VM's disk made into an image file for the catalogue.
 *
 * The order's "export" names the image to make and, optionally, the
 * snapshot to make it from (else the disk as it is, which needs the VM
 * stopped: a bake).  The file is flattened (qemu-img convert reads the
 * whole backing chain into one standalone qcow2), so it depends on nothing
 * of this host; it is DATA/vms/<id>/export-<image id>.qcow2, made under a
 * ".part" name and renamed once whole, with its SHA-256 beside it.  The
 * control plane fetches it from GET /v1/vms/{id}/exports/{image}, checks
 * the digest, and sends an order without the export; the file is then
 * removed.  A snapshot's clusters never change while it exists, so
 * reading one from the disk of a running VM (-U) is safe. */
#ifndef CUMULUS_AGENT_VM_EXPORT_H
#define CUMULUS_AGENT_VM_EXPORT_H

#include "agent.h"
#include "vm_record.h"

/* Makes the export the order asks for (if not made yet) and removes those
 * it no longer asks for; sets r->export. */
int vm_export_converge(agent *a, vm_record *r, const vm_spec *s, cu_error **err);

/* The path of a finished export of VM `id`, for serving it (0 or 404). */
int vm_export_path(agent *a, const char *id, const char *image_id, char *buf, size_t len,
                   cu_error **err);

#endif
