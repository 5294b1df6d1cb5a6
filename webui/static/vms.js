// vms.js: the list of VMs — state, host, size, image, address and SSH
// command (with a copy button), a live picture of the screen, the
// operation under way — kept current without reloading: each VM event
// reloads that VM, operation events redraw its progress, and a slow full
// reload covers anything missed.  On a phone the table becomes cards (CSS).
import { api, enc, listAll } from './api.js';
import * as events from './events.js';
import * as ops from './ops.js';
import { Thumbnails } from './thumbs.js';
import { actionButtons } from './vmactions.js';
import { badge, copyButton, debounce, emptyRow, errorBox, h, heading, mib, gib, poll, title, td } from './ui.js';

const COLUMNS = ['Screen', 'Name', 'State', 'Host', 'Size', 'Image', 'SSH', 'Actions'];

export function sshCell(vm) {
  if (!vm.ssh) return h('span', { class: 'muted' }, vm.state === 'running' ? 'waiting for the port' : '–');
  return h('div', { class: 'ssh' },
    h('code', { class: 'ssh-command' }, vm.ssh.command),
    copyButton(vm.ssh.command, 'Copy'));
}

export function guestNote(vm) {
  if (vm.state !== 'running' || !vm.guest_state) return null;
  const words = { booting: 'booting', ready: 'ready', failed: 'cloud-init failed' }[vm.guest_state] ?? vm.guest_state;
  return h('span', { class: `guest guest-${vm.guest_state}`, title: vm.guest_message ?? '' }, words);
}

function row(vm, thumbs, { onDeleted }) {
  const link = `#/vms/${enc(vm.name)}`;
  const op = ops.forTarget(vm.id);
  return h('tr', { dataset: { vmId: vm.id, vmName: vm.name, state: vm.state } },
    td({ class: 'col-thumb', 'data-label': 'Screen' },
      vm.state === 'running' ? h('a', { href: `${link}/console`, 'aria-label': `Open the console of ${vm.name}` }, thumbs.element(vm)) : thumbs.element(vm)),
    td({ class: 'col-name', 'data-label': 'Name' },
      h('a', { href: link, class: 'vm-name' }, vm.name),
      vm.emulated ? h('span', { class: 'tag', title: 'Runs under emulation on a host of another architecture: slow' }, 'emulated') : null,
      h('div', { class: 'op-slot' }, ops.statusElement(op))),
    td({ class: 'col-state', 'data-label': 'State' }, badge(vm.state, 'vm-state'), ' ', guestNote(vm)),
    td({ 'data-label': 'Host' }, vm.host ?? h('span', { class: 'muted' }, 'not placed yet')),
    td({ 'data-label': 'Size' }, h('span', { title: vm.size }, `${vm.vcpus} vCPU · ${mib(vm.memory_mib)} · ${gib(vm.disk_gib)}`)),
    td({ 'data-label': 'Image' }, vm.image, h('span', { class: 'muted' }, ` ${vm.architecture}`)),
    td({ class: 'col-ssh', 'data-label': 'SSH' }, sshCell(vm)),
    td({ class: 'col-actions', 'data-label': 'Actions' },
      vm.state === 'running' ? h('div', { class: 'actions' },
        h('a', { class: 'button small', href: `${link}/console` }, 'Console'),
        h('a', { class: 'button small', href: `${link}/serial` }, 'Serial')) : null,
      actionButtons(vm, { onDeleted })));
}

export function mount(root) {
  title('Virtual machines');
  const thumbs = new Thumbnails({ width: 160 });
  const vms = new Map(); // id -> vm
  const tbody = h('tbody', { id: 'vm-rows' });
  const error = errorBox('vms-error');
  const summary = h('p', { class: 'muted', id: 'vm-summary', 'aria-live': 'polite' });
  root.append(
    heading('Virtual machines', h('a', { class: 'button primary', href: '#/create', id: 'create-vm' }, 'Create VM')),
    error,
    summary,
    h('div', { class: 'table-wrap' },
      h('table', { class: 'vms cards-on-phone', 'aria-describedby': 'vm-summary' },
        h('thead', {}, h('tr', {}, COLUMNS.map((c) => h('th', { scope: 'col' }, c)))),
        tbody)));

  const opts = { onDeleted: (vm) => redraw(vm.id) };
  // What a row shows: a row is redrawn only when this changes, so that
  // buttons do not move or vanish under the pointer for nothing.
  const signature = (vm) => {
    const op = ops.forTarget(vm.id);
    return JSON.stringify([vm, op && [op.status, op.progress, op.message, op.error]]);
  };
  const shown = new Map(); // id -> signature of its row
  const rowOf = (vm) => {
    shown.set(vm.id, signature(vm));
    return row(vm, thumbs, opts);
  };
  function draw() {
    const list = [...vms.values()].sort((a, b) => a.name.localeCompare(b.name));
    const ids = [...tbody.querySelectorAll('tr[data-vm-id]')].map((tr) => tr.dataset.vmId);
    if (list.length === 0) {
      shown.clear();
      tbody.replaceChildren(emptyRow(COLUMNS.length, 'No VMs yet. "Create VM" makes one.'));
    } else if (ids.join() === list.map((vm) => vm.id).join()) {
      for (const vm of list) if (shown.get(vm.id) !== signature(vm)) redraw(vm.id);
    } else {
      shown.clear();
      tbody.replaceChildren(...list.map(rowOf));
    }
    summarise();
  }
  function summarise() {
    const running = [...vms.values()].filter((vm) => vm.state === 'running').length;
    summary.textContent = `${vms.size} VM${vms.size === 1 ? '' : 's'}, ${running} running.`;
  }
  // Redraws one VM's row in place (or everything if it is new or gone).
  function redraw(id) {
    const old = tbody.querySelector(`tr[data-vm-id="${CSS.escape(id)}"]`);
    const vm = vms.get(id);
    if (old && vm) {
      if (shown.get(id) !== signature(vm)) old.replaceWith(rowOf(vm));
      summarise();
    } else {
      draw();
    }
  }

  async function loadAll() {
    try {
      const list = await listAll('/v1/vms', 'vms');
      vms.clear();
      for (const vm of list) vms.set(vm.id, vm);
      for (const id of [...thumbs.items.keys()]) if (!vms.has(id)) thumbs.forget(id);
      draw();
      error.textContent = '';
    } catch (err) {
      error.textContent = `The VMs could not be loaded: ${err.message}`;
    }
  }

  async function loadOne(id) {
    try {
      vms.set(id, await api.get(`/v1/vms/${enc(id)}`));
    } catch (err) {
      if (err.status !== 404) return;
      vms.delete(id);
      thumbs.forget(id);
    }
    redraw(id);
  }

  const pending = new Set();
  const flush = debounce(() => {
    for (const id of pending) loadOne(id);
    pending.clear();
  }, 150);
  const offVm = events.subscribe('vm.', (ev) => {
    if (ev.type === 'vm.deleted') {
      vms.delete(ev.target.id);
      thumbs.forget(ev.target.id);
      redraw(ev.target.id);
      return;
    }
    pending.add(ev.target.id);
    flush();
  });
  // Progress and the locking of the action buttons while an operation runs.
  const offOps = ops.onChange((op) => {
    if (op.target?.type === 'vm' && vms.has(op.target.id)) redraw(op.target.id);
  });
  const offStatus = events.onStatus((s) => { if (s === 'live') loadAll(); });
  const TRANSIENT = new Set(['pending', 'provisioning', 'deleting']);
  const stopPoll = poll(loadAll, { busy: () => [...vms.values()].some((vm) => TRANSIENT.has(vm.state)) || ops.inFlight().length > 0 });

  loadAll();
  return () => {
    offVm();
    offOps();
    offStatus();
    flush.cancel();
    stopPoll();
    thumbs.dispose();
  };
}
