/* vm_snapshots.h: a VM's snapshots, kept inside its qcow2 disk (internal
 * snapshots), brought to what the order lists.
 *
 * Why internal snapshots: each one is a copy of the disk's L1 table plus a
 * reference on every cluster it shares, so taking one costs the same
 * whatever the guest has written (bench/run-snapshot-bench), deleting any
 * of them leaves every other one whole (clusters are refcounted, there is
 * no chain to merge), the backing chain stays overlay -> base image
 * whatever the number of snapshots, and the VM's memory can go into the
 * same file (QMP snapshot-save), so a restore resumes the guest where it
 * was.  External snapshots (blockdev-snapshot-sync) would grow the chain by
 * one file per snapshot and need a block-stream or commit job to delete
 * one in the middle.
 *
 * A snapshot is named by its id ("snap-" + hex) inside the disk.  On a
 * running VM a disk-only snapshot pauses the guest (QMP stop), takes the
 * snapshot (blockdev-snapshot-internal-sync, which drains in-flight I/O)
 * and resumes it: the disk is what a power cut at that instant would leave
 * (crash-consistent; the images carry no guest agent to freeze file
 * systems).  With memory, QMP's snapshot-save job stops the VM, saves RAM
 * and devices with the disk, and resumes it.  On a stopped VM qemu-img
 * does the same work on the file.
 *
 * Restore: a memory snapshot on a running VM is loaded live (snapshot-load:
 * the guest resumes where it was); otherwise QEMU is stopped (hard: the
 * current state is discarded; the control plane takes a safety snapshot
 * first if asked) and the disk reverted with qemu-img snapshot -a; the
 * VM's worker then starts it again if it should run.  A restore request is
 * carried out once (its id is kept in state.json). */
#ifndef CUMULUS_AGENT_VM_SNAPSHOTS_H
#define CUMULUS_AGENT_VM_SNAPSHOTS_H

#include <jansson.h>

#include "agent.h"
#include "vm_record.h"

/* Creates the snapshots the order lists that the disk lacks, carries out a
 * new restore request, deletes the snapshots of ours the order no longer
 * lists, and refreshes r->snapshots.  A VM without a disk yet has nothing
 * to do.  -1 with err on the first failure (the rest waits for the next
 * order). */
int vm_snapshots_converge(agent *a, vm_record *r, const vm_spec *s, cu_error **err);

/* Re-reads the disk's snapshot table into r->snapshots:
 * [{"id", "vm_state_bytes", "taken_at"}] (ours only). */
void vm_snapshots_refresh(agent *a, vm_record *r);

#endif
