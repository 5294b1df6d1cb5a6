// hosts.js: the machines that run VMs — their state, what they are, and
// capacity bars (vCPUs, memory, disk: used and free); drain one before
// maintenance, return it after.  Reloaded on host and VM events (VMs use
// capacity) and every 10 s (heartbeats bring the free figures).
import { api, enc, listAll } from './api.js';
import * as events from './events.js';
import { ago, ask, badge, busy, capacityBar, debounce, errorBox, gib, h, heading, mib, title } from './ui.js';

function card(host, vmCount, reload) {
  const state = host.drained && host.state === 'up' ? 'draining' : host.state;
  const toggle = h('button', { type: 'button', class: 'small', dataset: { action: host.drained ? 'return' : 'drain' } }, host.drained ? 'Return to service' : 'Drain');
  toggle.addEventListener('click', () => busy(toggle, async () => {
    if (!host.drained && !(await ask({
      title: `Drain ${host.name}?`,
      body: [h('p', {}, 'No new VM is placed on it; the VMs it runs keep running. Return it when done.')],
      confirm: 'Drain',
    }))) return;
    await api.post(`/v1/hosts/${enc(host.id)}/actions`, { type: host.drained ? 'return' : 'drain' });
    await reload();
  }, toggle.parentElement ?? toggle));
  const accel = (host.accelerators ?? []).join(', ') || 'none';
  return h('article', { class: 'panel host', dataset: { hostName: host.name, state }, 'aria-labelledby': `host-${host.id}` },
    h('header', { class: 'host-head' },
      h('h3', { id: `host-${host.id}` }, host.name),
      badge(state),
      host.drained ? h('span', { class: 'tag' }, 'drained') : null),
    h('dl', { class: 'facts compact' },
      h('dt', {}, 'Address'), h('dd', {}, h('code', {}, host.address)),
      h('dt', {}, 'CPU'), h('dd', {}, host.architecture,
        host.emulated_architectures?.length ? ` (also runs ${host.emulated_architectures.join(', ')}, emulated)` : ''),
      h('dt', {}, 'Acceleration'), h('dd', {}, accel, accel === 'tcg' ? h('span', { class: 'muted' }, ' (software only: slow)') : ''),
      h('dt', {}, 'QEMU'), h('dd', {}, host.qemu_version ?? '–'),
      h('dt', {}, 'VMs'), h('dd', {}, String(vmCount)),
      h('dt', {}, 'Last heard'), h('dd', {}, ago(host.last_heartbeat))),
    h('div', { class: 'capacities' },
      capacityBar('vCPUs', host.vcpus - host.free_vcpus, host.vcpus, (n) => `${n}`),
      capacityBar('Memory', host.memory_mib - host.free_memory_mib, host.memory_mib, mib),
      capacityBar('Disk', host.disk_gib - host.free_disk_gib, host.disk_gib, gib)),
    h('div', { class: 'actions' }, toggle));
}

export function mount(root) {
  title('Hosts');
  const list = h('div', { class: 'host-grid', id: 'hosts' });
  const error = errorBox('hosts-error');
  root.append(heading('Hosts'), error, list);

  async function load() {
    try {
      const [hosts, vms] = await Promise.all([listAll('/v1/hosts', 'hosts'), listAll('/v1/vms', 'vms')]);
      const counts = new Map();
      for (const vm of vms) if (vm.host_id) counts.set(vm.host_id, (counts.get(vm.host_id) ?? 0) + 1);
      list.replaceChildren(...(hosts.length
        ? hosts.sort((a, b) => a.name.localeCompare(b.name)).map((x) => card(x, counts.get(x.id) ?? 0, load))
        : [h('p', { class: 'muted' }, 'No host has joined yet: start cumulus-agent on a machine with the join token.')]));
      error.textContent = '';
    } catch (err) {
      error.textContent = `The hosts could not be loaded: ${err.message}`;
    }
  }

  const reload = debounce(load, 300);
  const off = events.subscribe(['host.', 'vm.'], reload);
  const offStatus = events.onStatus((s) => { if (s === 'live') reload(); });
  const timer = setInterval(load, 10000);
  load();
  return () => { off(); offStatus(); reload.cancel(); clearInterval(timer); };
}
