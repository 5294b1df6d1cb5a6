/* image_export.h: images made from a VM's disk (a snapshot of it, or the
 * disk of a baked VM that powered off): the VM's order asks its host for
 * the flattened file ("export", agent/vm_export.h), the host reports it
 * made with its digest, and the control plane fetches it into
 * DATA/images/<image id>/disk.qcow2, checks the digest, and serves it to
 * every agent like any imported image.  Then the image is 'ready' (its
 * operation succeeds) and the order no longer asks for the file.  Any
 * failure marks the image 'error' with the reason on its operation. */
#ifndef CUMULUS_CP_IMAGE_EXPORT_H
#define CUMULUS_CP_IMAGE_EXPORT_H

#include <jansson.h>

#include "app.h"

/* Inside a transaction: a new image row ('creating') copied from the VM's
 * image but for its name, origin and source, the VM's order asking for it,
 * and the image's operation (returned).  `snapshot_id` NULL: the disk as it
 * is (the VM must be stopped).  *image gets the image's API row. */
json_t *image_export_begin(cp_app *app, const json_t *vm, const char *snapshot_id,
                           const char *name, const char *origin, json_t **image, cu_error **err);

/* A host's report of one VM (inside the report's transaction): starts the
 * fetch of a finished export, or fails the image on the host's error. */
int image_export_apply_report(cp_app *app, const char *vm_id, const json_t *rep, cu_error **err);

/* Inside a transaction: the image row `id` ('creating', its file to come
 * from VM `vm_id`), copied from the VM's image but for its name, origin
 * and `source`; returns its API row. */
json_t *image_insert_from_vm(cp_app *app, const char *id, const char *vm_id, const char *name,
                             const char *origin, const json_t *source, cu_error **err);

/* Inside a transaction: the VM's order asks its host for image `image_id`
 * made from its snapshot `snapshot_id` (NULL: from its disk, stopped). */
int image_export_request(cp_app *app, const char *vm_id, const char *image_id,
                         const char *snapshot_id, cu_error **err);

/* Adds "export" to a VM's order. */
int image_export_add_to_spec(cp_app *app, const char *vm_id, json_t *spec, cu_error **err);

#endif
