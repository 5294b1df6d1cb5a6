// vmactions.js: what can be done to a VM — start, stop, reboot, power off,
// delete — as buttons fit for its state, shared by the VM list and the VM's
// page.  Power off and delete ask first.  Each answer's operation is
// tracked (ops.js) so its progress shows; an error shows next to the
// buttons.
import { api, enc } from './api.js';
import * as ops from './ops.js';
import { ask, busy, h } from './ui.js';

const ACTIONS = [
  { type: 'start', label: 'Start', when: (vm) => vm.state === 'stopped' || (vm.state === 'error' && vm.desired_state !== 'deleted') },
  { type: 'stop', label: 'Stop', when: (vm) => ['running', 'provisioning'].includes(vm.state) && vm.desired_state === 'running' },
  { type: 'reboot', label: 'Reboot', when: (vm) => vm.state === 'running' },
  {
    type: 'power_off', label: 'Power off', when: (vm) => ['running', 'provisioning', 'unknown'].includes(vm.state),
    confirm: (vm) => ({
      title: `Power off ${vm.name}?`,
      body: [h('p', {}, 'Like pulling the plug: the guest is not asked to shut down, and what it has not written to disk is lost. "Stop" shuts it down cleanly.')],
      confirm: 'Power off',
      danger: true,
    }),
  },
];

export function deleteQuestion(vm) {
  return {
    title: `Delete ${vm.name}?`,
    body: [
      h('p', {}, 'The VM, its disk and its snapshots are destroyed. This cannot be undone.'),
      vm.ssh ? h('p', { class: 'hint' }, `It answers at ${vm.ssh.host}:${vm.ssh.port} until then.`) : null,
    ],
    confirm: 'Delete VM',
    danger: true,
  };
}

async function act(vm, action) {
  if (action.confirm && !(await ask(action.confirm(vm)))) return;
  const answer = await api.post(`/v1/vms/${enc(vm.id)}/actions`, { type: action.type });
  ops.track(answer.operation);
}

// Deletes after asking; true when the deletion was accepted.
export async function deleteVm(vm) {
  if (!(await ask(deleteQuestion(vm)))) return false;
  const answer = await api.del(`/v1/vms/${enc(vm.id)}`);
  ops.track(answer.operation);
  return true;
}

// The buttons for `vm` as it is now, in a group whose errors show after it.
export function actionButtons(vm, { onDeleted } = {}) {
  const group = h('div', { class: 'actions', role: 'group', 'aria-label': `Actions on ${vm.name}` });
  const going = ops.forTarget(vm.id);
  const locked = going && !ops.finished(going); // one operation per VM at a time
  for (const action of ACTIONS) {
    if (!action.when(vm)) continue;
    const button = h('button', {
      type: 'button', class: 'small', disabled: locked, dataset: { action: action.type },
      title: locked ? `Wait until "${ops.describe(going).toLowerCase()}" is done` : null,
    }, action.label);
    button.addEventListener('click', () => busy(button, () => act(vm, action), group));
    group.append(button);
  }
  if (vm.state !== 'deleting' && vm.desired_state !== 'deleted') {
    const del = h('button', { type: 'button', class: 'small danger', dataset: { action: 'delete' } }, 'Delete');
    del.addEventListener('click', () => busy(del, async () => {
      if (await deleteVm(vm)) onDeleted?.(vm);
    }, group));
    group.append(del);
  }
  return group;
}
