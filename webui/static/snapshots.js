// snapshots.js: a VM's snapshots on its page — take one (optionally with
// the memory of a running VM), restore one (after a safety snapshot, by
// default), delete one, or make an image of one for new VMs.  The list
// reloads on the VM's snapshot events and when its operations end.
import { api, enc, listAll } from './api.js';
import * as events from './events.js';
import * as ops from './ops.js';
import { ago, ask, busy, bytes, badge, emptyRow, errorBox, field, h, poll, showFormError, td } from './ui.js';

// A default image name from a VM's and a snapshot's names: a DNS label.
function imageName(vm, snap) {
  return `${vm.name}-${snap.name}`.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63).replace(/-+$/, '');
}

export function snapshotsSection(getVm) {
  const tbody = h('tbody', { id: 'snapshot-rows' });
  const listError = errorBox('snapshots-error');
  const formError = errorBox('snapshot-form-error');
  const notice = h('p', { class: 'notice', role: 'status', 'aria-live': 'polite' });
  const nameInput = h('input', { id: 'snapshot-name', name: 'name', maxlength: 63, pattern: '[A-Za-z0-9._\\-]{1,63}', placeholder: 'e.g. before-upgrade (default: the time)', autocomplete: 'off' });
  const memory = h('input', { id: 'snapshot-memory', name: 'memory', type: 'checkbox' });
  const takeButton = h('button', { type: 'submit', class: 'primary', id: 'take-snapshot' }, 'Take snapshot');
  const lockHint = h('p', { class: 'hint', id: 'snapshot-lock', 'aria-live': 'polite' });
  const form = h('form', { class: 'inline-form', id: 'snapshot-form', 'aria-label': 'Take a snapshot' },
    field('Snapshot name', nameInput),
    h('div', { class: 'field check' }, memory, h('label', { for: 'snapshot-memory' }, 'Include memory (running VM: restoring resumes it where it was)')),
    takeButton);
  const element = h('section', { class: 'panel', 'aria-labelledby': 'snapshots-title' },
    h('h3', { id: 'snapshots-title' }, 'Snapshots'),
    form, lockHint, formError, notice, listError,
    h('div', { class: 'table-wrap' },
      h('table', { class: 'snapshots cards-on-phone' },
        h('thead', {}, h('tr', {}, ['Name', 'Taken', 'Kind', 'State', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
        tbody)));

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const vm = getVm();
    const body = {};
    if (nameInput.value.trim()) body.name = nameInput.value.trim();
    if (memory.checked) body.memory = true;
    busy(takeButton, async () => {
      showFormError(form, null, formError);
      try {
        const answer = await api.post(`/v1/vms/${enc(vm.id)}/snapshots`, body);
        ops.track(answer.operation);
        nameInput.value = '';
        memory.checked = false;
        await load();
      } catch (err) {
        showFormError(form, err, formError);
      }
    }).then(updateLock);
  });

  // A VM takes one operation at a time: while one runs (its creation, a
  // restore...), snapshots wait, and the page says so.
  function going() {
    const vm = getVm();
    const op = vm && ops.forTarget(vm.id);
    return op && !ops.finished(op) ? op : null;
  }
  function updateLock() {
    const vm = getVm();
    const op = going();
    const usable = vm && ['running', 'stopped'].includes(vm.state);
    takeButton.disabled = Boolean(op) || !usable;
    lockHint.textContent = op ? `Snapshots wait until "${ops.describe(op).toLowerCase()}" is done.`
      : usable ? '' : `Snapshots need a running or stopped VM (it is ${vm?.state ?? 'gone'}).`;
    for (const b of tbody.querySelectorAll('button[data-needs-idle]')) b.disabled = Boolean(op) || b.dataset.needsIdle !== 'ok';
  }

  async function restore(vm, snap, button, group) {
    const safety = h('input', { type: 'checkbox', id: 'restore-safety', name: 'safety', value: 'yes', checked: true });
    const answer = await ask({
      title: `Restore ${vm.name} to "${snap.name}"?`,
      body: [
        h('p', {}, snap.memory && vm.state === 'running'
          ? 'The guest resumes where it was when the snapshot was taken.'
          : vm.state === 'running' ? 'The VM is stopped, its disk put back as it was, and started again.' : 'Its disk is put back as it was.'),
        h('div', { class: 'field check' }, safety, h('label', { for: 'restore-safety' }, 'First take a snapshot of how it is now, so this can be undone')),
      ],
      confirm: 'Restore',
      danger: true,
    });
    if (!answer) return;
    const res = await api.post(`/v1/vms/${enc(vm.id)}/snapshots/${enc(snap.id)}/restore`, { safety_snapshot: answer.safety === 'yes' });
    ops.track(res.operation);
    await load();
  }

  async function makeImage(vm, snap) {
    const input = h('input', { id: 'image-from-snapshot-name', name: 'name', required: true, value: imageName(vm, snap), maxlength: 63, pattern: '[a-z0-9]([a-z0-9\\-]{0,61}[a-z0-9])?' });
    const answer = await ask({
      title: `Make an image of "${snap.name}"`,
      body: [
        h('p', {}, 'New VMs can then be made from it; each gets its own identity, so cloud-init sets it up afresh.'),
        field('Image name', input, 'Lower-case letters, digits and hyphens.'),
      ],
      confirm: 'Make image',
    });
    if (!answer) return;
    const res = await api.post(`/v1/snapshots/${enc(snap.id)}/image`, { name: answer.name });
    ops.track(res.operation);
    notice.replaceChildren(`Image "${answer.name}" is being made: its progress is on the `, h('a', { href: '#/images' }, 'Images'), ' page.');
  }

  async function remove(vm, snap) {
    const yes = await ask({ title: `Delete snapshot "${snap.name}"?`, body: [h('p', {}, 'The other snapshots stay as they are. This cannot be undone.')], confirm: 'Delete snapshot', danger: true });
    if (!yes) return;
    const res = await api.del(`/v1/vms/${enc(vm.id)}/snapshots/${enc(snap.id)}`);
    ops.track(res.operation);
    await load();
  }

  function row(vm, snap) {
    const group = h('div', { class: 'actions', role: 'group', 'aria-label': `Actions on snapshot ${snap.name}` });
    const ready = snap.state === 'ready';
    const button = (label, fn, cls = 'small', enabled = ready) => {
      const b = h('button', { type: 'button', class: cls, disabled: !enabled || Boolean(going()), dataset: { needsIdle: enabled ? 'ok' : 'no' } }, label);
      b.addEventListener('click', () => busy(b, () => fn(vm, snap, b, group), group).then(updateLock));
      return b;
    };
    group.append(button('Restore', restore), button('Make image', makeImage), button('Delete', remove, 'small danger', ready || snap.state === 'error'));
    const kind = snap.memory ? `disk + memory${snap.vm_state_bytes ? ` (${bytes(snap.vm_state_bytes)})` : ''}` : 'disk';
    return h('tr', { dataset: { snapshotId: snap.id, snapshotName: snap.name, state: snap.state } },
      td({ 'data-label': 'Name' }, snap.name),
      td({ 'data-label': 'Taken' }, ago(snap.taken_at ?? snap.created_at)),
      td({ 'data-label': 'Kind' }, kind),
      td({ 'data-label': 'State' }, badge(snap.state), snap.error?.message ? h('div', { class: 'error' }, snap.error.message) : null),
      td({ 'data-label': 'Actions' }, group));
  }

  let changing = false; // a snapshot is being taken or deleted
  async function load() {
    const vm = getVm();
    if (!vm) return;
    memory.disabled = vm.state !== 'running';
    try {
      const list = await listAll(`/v1/vms/${enc(vm.id)}/snapshots`, 'snapshots');
      changing = list.some((s) => s.state === 'creating' || s.state === 'deleting');
      tbody.replaceChildren(...(list.length ? list.map((s) => row(vm, s)) : [emptyRow(5, 'No snapshots yet.')]));
      listError.textContent = '';
      updateLock();
    } catch (err) {
      listError.textContent = `The snapshots could not be loaded: ${err.message}`;
    }
  }

  const offEvents = events.subscribe('snapshot.', (ev) => {
    if (ev.data?.vm_id === getVm()?.id) load();
  });
  const offOps = ops.onChange((op) => {
    if (op.target?.id !== getVm()?.id) return;
    updateLock();
    if (op.type?.startsWith('snapshot.') && ops.finished(op)) load();
  });
  const stopPoll = poll(load, { busy: () => changing });
  return {
    element,
    load,
    updateLock,
    dispose() { offEvents(); offOps(); stopPoll(); },
  };
}
