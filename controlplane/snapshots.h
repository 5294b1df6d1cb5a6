/* snapshots.h: a VM's snapshots as the control plane keeps them: rows of
 * the snapshots table (migration 9), the part of the VM's order that lists
 * them (vm_spec.h: "snapshots", "restore"), and what a host's report says
 * of them.  The snapshots themselves live in the VM's disk on its host
 * (agent/vm_snapshots.h says how and why).
 *
 * A snapshot's row: 'creating' until the host reports it in the disk
 * ('ready'), or reports an error for its generation ('error', with the
 * host's reason); 'deleting' until the host has applied the order that no
 * longer lists it, then the row goes.  Rows go with their VM. */
#ifndef CUMULUS_CP_SNAPSHOTS_H
#define CUMULUS_CP_SNAPSHOTS_H

#include <jansson.h>

#include "app.h"

#define SNAPSHOT_SELECT                                                                            \
    "SELECT s.seq AS _seq, s.id, s.name, s.vm_id, v.name AS vm, s.memory, s.state,"                \
    " s.vm_state_bytes, s.taken_at, CASE WHEN s.error_message IS NULL THEN NULL"                   \
    " ELSE json_object('message', s.error_message) END AS error_json, s.created_at"                \
    " FROM snapshots s JOIN vms v ON v.id = s.vm_id"

/* "memory" 0/1 -> bool; drops "_seq". */
json_t *snapshot_row_to_api(json_t *row);

/* Adds "snapshots" and "restore" to a VM's order. */
int snapshots_add_to_spec(cp_app *app, const char *vm_id, json_t *spec, cu_error **err);

/* A host's report of one VM (reports.c; inside its transaction). */
int snapshots_apply_report(cp_app *app, const char *vm_id, const json_t *rep, cu_error **err);

#endif
