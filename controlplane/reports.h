/* reports.h: what hosts tell the control plane.  A heartbeat carries the
 * host's free capacity and the actual state of each VM it runs; this
 * module turns it into VM states, SSH ports and the progress or end of
 * operations.  A report never deletes a VM the user did not delete. */
#ifndef CUMULUS_CP_REPORTS_H
#define CUMULUS_CP_REPORTS_H

#include <jansson.h>

#include "app.h"

/* Applies one heartbeat body from host `host_id` (already authenticated). */
int reports_apply(cp_app *app, const char *host_id, const json_t *body, cu_error **err);

/* The host confirmed a VM the user deleted is gone: drop it, end the
 * delete operation.  Call inside a transaction. */
int reports_vm_gone(cp_app *app, const char *vm_id, cu_error **err);

#endif
