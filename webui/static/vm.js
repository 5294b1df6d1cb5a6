// vm.js: one VM's page — its state and the operation under way, how to
// reach it (SSH command with a copy button), what it is made of, a larger
// live picture of its screen, the buttons to act on it and to open its
// consoles, its CPU and memory graphs while it runs (vmstats.js), and its
// snapshots (snapshots.js).  Kept current from the VM's
// events, without reloading the page.
import { api, enc } from './api.js';
import * as events from './events.js';
import * as ops from './ops.js';
import { snapshotsSection } from './snapshots.js';
import { Thumbnails } from './thumbs.js';
import { actionButtons } from './vmactions.js';
import { statsSection } from './vmstats.js';
import { guestNote, sshCell } from './vms.js';
import { ago, archLabel, badge, debounce, errorBox, gib, h, heading, mib, poll, title } from './ui.js';

function facts(vm) {
  const rows = [
    ['State', [badge(vm.state, 'vm-state'), ' ', guestNote(vm)]],
    vm.guest_message ? ['Guest', vm.guest_message] : null,
    ['SSH', sshCell(vm)],
    ['Login user', h('code', {}, vm.login_user)],
    ['Host', vm.host ? h('a', { href: '#/hosts' }, vm.host) : 'not placed yet'],
    ['Size', `${vm.size}: ${vm.vcpus} vCPU, ${mib(vm.memory_mib)} RAM, ${gib(vm.disk_gib)} disk`],
    ['Image', `${vm.image} (${archLabel(vm.architecture)}${vm.emulated ? ', emulated: slow' : ''})`],
    ['Boot', vm.boot === 'kernel' ? 'direct kernel boot' : 'UEFI firmware'],
    vm.boot_seconds !== null && vm.boot_seconds !== undefined ? ['Ready after', `${vm.boot_seconds} s`] : null,
    ['SSH keys', vm.ssh_keys?.length ? vm.ssh_keys.map((k) => k.name).join(', ') : 'none (user-data only)'],
    ['After a host restart', { always: 'always started', never: 'left stopped', last: 'as it was' }[vm.autostart] ?? vm.autostart],
    ['Created', ago(vm.created_at)],
    ['ID', h('code', {}, vm.id)],
  ].filter(Boolean);
  return h('dl', { class: 'facts' }, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

export function mount(root, name) {
  title(name);
  const thumbs = new Thumbnails({ width: 640, everyMs: 5000 });
  let vm = null;
  const error = errorBox('vm-error');
  const top = h('div', { id: 'vm-top' });
  const details = h('div', { class: 'vm-details' });
  const snapshots = snapshotsSection(() => vm);
  const stats = statsSection(() => vm);
  stats.element.hidden = true;
  root.append(h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/vms' }, '← Virtual machines')),
    top, error, details, stats.element, snapshots.element);

  let shown = null; // what the page shows: drawn again only when it changes
  function draw() {
    const op = ops.forTarget(vm.id);
    const signature = JSON.stringify([vm, op && [op.status, op.progress, op.message, op.error]]);
    if (signature === shown) return;
    shown = signature;
    title(vm.name);
    const link = `#/vms/${enc(vm.name)}`;
    const running = vm.state === 'running';
    top.replaceChildren(
      h('div', { class: 'view-head' }, h('h2', { tabindex: -1 }, vm.name, badge(vm.state, 'vm-state'), guestNote(vm))),
      h('div', { class: 'toolbar' },
        h('a', { class: `button small${running ? '' : ' disabled'}`, href: running ? `${link}/console` : null, 'aria-disabled': running ? null : 'true', id: 'open-console' }, 'Console'),
        h('a', { class: `button small${running ? '' : ' disabled'}`, href: running ? `${link}/serial` : null, 'aria-disabled': running ? null : 'true', id: 'open-serial' }, 'Serial console'),
        actionButtons(vm, { onDeleted: () => { location.hash = '#/vms'; } })),
      h('div', { class: 'op-slot' }, ops.statusElement(ops.forTarget(vm.id))));
    const screen = running
      ? h('a', { href: `${link}/console`, class: 'screen-link', 'aria-label': `Open the console of ${vm.name}` }, thumbs.element(vm))
      : h('div', { class: 'screen-off' }, thumbs.element(vm), h('span', {}, `The screen shows while the VM runs (now ${vm.state}).`));
    details.replaceChildren(h('section', { class: 'panel' }, h('h3', {}, 'Details'), facts(vm)),
      h('section', { class: 'panel screen' }, h('h3', {}, 'Screen'), screen));
  }

  async function load() {
    try {
      const wasRunning = vm?.state;
      vm = await api.get(`/v1/vms/${enc(name)}`);
      error.textContent = '';
      draw();
      stats.update();
      if (wasRunning !== vm.state) snapshots.load();
      else snapshots.updateLock();
    } catch (err) {
      if (err.status === 404) {
        top.replaceChildren(heading(name));
        details.replaceChildren(h('p', {}, 'There is no VM of this name (any more). ', h('a', { href: '#/vms' }, 'See all VMs.')));
        snapshots.element.hidden = true;
        vm = null;
        stats.update();
      } else {
        error.textContent = `This VM could not be loaded: ${err.message}`;
      }
    }
  }

  const reload = debounce(load, 150);
  const offVm = events.subscribe('vm.', (ev) => { if (vm && ev.target?.id === vm.id) reload(); });
  const offOps = ops.onChange((op) => { if (vm && op.target?.id === vm.id) draw(); });
  const offStatus = events.onStatus((s) => { if (s === 'live') reload(); });
  const changing = () => {
    if (!vm) return false;
    const op = ops.forTarget(vm.id);
    return ['pending', 'provisioning', 'deleting'].includes(vm.state) || (op && !ops.finished(op));
  };
  const stopPoll = poll(load, { busy: changing });
  load();
  return () => {
    offVm();
    offOps();
    offStatus();
    reload.cancel();
    stopPoll();
    snapshots.dispose();
    stats.dispose();
    thumbs.dispose();
  };
}
