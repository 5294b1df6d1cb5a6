/* vm_steps.h: the steps that bring one VM to its desired state, run by
 * its worker thread (vm_manager.c), and the checks done at start and on
 * every heartbeat. */
#ifndef CUMULUS_AGENT_VM_STEPS_H
#define CUMULUS_AGENT_VM_STEPS_H

#include "agent.h"
#include "vm_record.h"

/* Brings the VM to the accepted order (or destroys it). */
void vm_steps_converge(agent *a, vm_record *r);
/* At agent start: re-adopt a live QEMU (pid + start time + QMP), else
 * record the VM as stopped.  If unsure, stop it: never run a VM twice. */
void vm_steps_adopt(agent *a, vm_record *r);
/* Notices a QEMU that exited (guest powered off, crash), and reads what
 * the guest reported on this boot (guest_channel.h); 1 if the VM's
 * reported status changed. */
int vm_steps_check_alive(agent *a, vm_record *r);

/* A free host port for a VM's SSH forward (vm_manager.c owns the table). */
int vm_port_allocate(agent *a, const char *vm_id, cu_error **err);
/* A uid of agent.h's range no other VM here has, for the VM's QEMU (-runas):
 * the first free one from a hash of the id, so it is stable.  Reserved in the
 * VM's record at once; 503 no_uid when the range is full. */
int vm_uid_allocate(agent *a, const char *vm_id, unsigned *uid, cu_error **err);

#endif
