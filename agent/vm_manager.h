/* vm_manager.h: the VMs of this host and the work that brings each to its
 * desired state.  An order (PUT) is stored first (spec.json), then a
 * worker thread for that VM converges: image, disk, seed, QEMU; or a
 * graceful or hard stop; or a reboot.  One worker per VM at a time; a newer
 * order arriving meanwhile is picked up when the current step ends.
 * Nothing here deletes a disk except an explicit DELETE order, or the
 * clean-up of a create that failed before the VM ever booted. */
#ifndef CUMULUS_AGENT_VM_MANAGER_H
#define CUMULUS_AGENT_VM_MANAGER_H

#include <jansson.h>

#include "agent.h"
#include "vm_spec.h"

/* Loads DATA/vms/<id>/, re-adopts live QEMU processes, and resumes work. */
int vm_table_open(agent *a, cu_error **err);
void vm_table_close(agent *a);

/* PUT /v1/vms/{id}: accepts the order (idempotent: an older or equal
 * generation changes nothing).  Takes ownership of the spec. */
int vm_accept(agent *a, vm_spec *spec, cu_error **err);
/* DELETE /v1/vms/{id}: 0 accepted, 0 with *found = 0 when unknown. */
int vm_destroy(agent *a, const char *id, int *found, cu_error **err);

/* Status of every VM (the heartbeat's "vms"), or of one (NULL if unknown). */
json_t *vm_status_all(agent *a);
json_t *vm_status_one(agent *a, const char *id);
/* Resources the VMs placed here use (for the heartbeat's free capacity). */
void vm_usage(agent *a, long long *vcpus, long long *memory_mib);

/* Every second, in a thread of its own, notices QEMU processes that went
 * away (guest powered off, crash) and what guests reported on their
 * channel, and sends a heartbeat at once when something changed (a guest
 * ready is news the user waits for). */
int vm_table_watch_start(agent *a, cu_error **err);
void vm_table_watch_stop(agent *a);

#endif
