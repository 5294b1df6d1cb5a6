/* bake.h: golden images baked by cloud-init, the way the second seed
 * article makes them.  POST /v1/images/bake (api_bake.c) stores, in one
 * transaction, a VM booted from the base image with the user's user-data
 * (named bake-<image id>, vms.bake_image set, autostart never), the new
 * image ('creating', origin 'bake', copied from the base image but for its
 * file) and the operation "image.bake" on the image.
 *
 * The VM's cloud-config ends in cloud-init's power_state
 * (cloudinit_bake_config): once cloud-init has finished the first boot,
 * the guest tells its host how it went, with cloud-init's own status and
 * log, and powers off.  The rest is driven by the hosts' reports:
 *   - the guest reported success and powered off: the VM is ordered
 *     stopped and its disk made into the image (image_export.h), which the
 *     control plane fetches, checks and serves: the image is ready;
 *   - cloud-init failed, the guest powered off without a word, the host
 *     could not run the VM, or the deadline passed: the image is 'error'
 *     and the operation fails with the reason (cloud-init's status and the
 *     end of its log, when the guest gave them);
 *   - once the image is ready, failed or deleted (which cancels the bake),
 *     the VM is deleted: a bake leaves nothing behind but its image. */
#ifndef CUMULUS_CP_BAKE_H
#define CUMULUS_CP_BAKE_H

#include <jansson.h>

#include "app.h"

#define BAKE_TIMEOUT_DEFAULT 1800 /* seconds from the request to the power-off */
#define BAKE_TIMEOUT_MAX 86400

/* A host's report of one VM (inside the report's transaction, after
 * image_export_apply_report): moves the bake this VM makes, if any. */
int bake_apply_report(cp_app *app, const char *vm_id, const json_t *rep, cu_error **err);

#endif
