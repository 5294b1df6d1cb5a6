// The check every fault test ends with: what each VM should be (the
// control plane's desired state) is what it is (the agents' QEMU
// processes, disks and ports), and nothing is left over anywhere.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { until } from './agent.mjs';

// Every live QEMU on this machine: { pid, vmDir } (the VM directory its
// command line names, which holds its disk).
export function qemuProcesses() {
  const found = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let argv;
    try {
      argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3))) continue;
    } catch { continue; }
    if (!/qemu-system-/.test(argv[0] ?? '')) continue;
    const m = argv.map((a) => /"filename":"([^"]+)\/disk\.qcow2"/.exec(a)).find(Boolean);
    found.push({ pid: Number(name), vmDir: m ? m[1] : null });
  }
  return found;
}

// TCP ports listened on in a test host's namespace (or on its loopback
// address), with the pid holding each.
function listeningPorts(host) {
  const out = host.run(['ss', '-Hltnp']);
  const ports = [];
  for (const line of out.split('\n')) {
    const m = /\s(\S+):(\d+)\s+\S+\s.*pid=(\d+)/.exec(line);
    if (m && (host.kind === 'netns' || m[1] === host.address)) ports.push({ port: Number(m[2]), pid: Number(m[3]) });
  }
  return ports;
}

async function allVms(cp) {
  const vms = [];
  let next = '/v1/vms?limit=1000';
  while (next) {
    const r = await cp.get(next);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    vms.push(...r.body.vms);
    next = r.body.next ? r.body.next.replace(/^https?:\/\/[^/]+/, '') : null;
  }
  return vms;
}

// Waits until the agents report every VM as desired, then checks the
// machine itself: one QEMU per running VM, on its own host, none for a
// stopped or deleted VM, no VM directory nobody wants, no forwarded port
// held by anything but a wanted VM's QEMU.  `agents`: { hostName: Agent }.
export async function assertConverged(cp, agents, { timeoutMs = 180000 } = {}) {
  let vms;
  await until('every VM to be as desired', async () => {
    vms = await allVms(cp);
    return vms.every((v) => v.desired_state !== 'deleted' && v.state === v.desired_state);
  }, timeoutMs, 1000).catch(async (e) => {
    const off = [];
    for (const v of vms.filter((x) => x.desired_state === 'deleted' || x.state !== x.desired_state)) {
      // Its last operation says why (an agent's error, a timeout).
      const ops = (await cp.get(`/v1/operations?target=${v.id}&limit=1000`)).body?.operations ?? [];
      const last = ops.at(-1);
      const why = last ? ` (last operation ${last.type} ${last.status}: ${last.error?.message ?? last.message})` : '';
      off.push(`${v.name}: desired ${v.desired_state}, state ${v.state}${why}`);
    }
    throw new Error(`${e.message}\n${off.join('\n')}`);
  });
  const names = vms.map((v) => v.name);
  assert.equal(new Set(names).size, names.length, 'no VM exists twice');
  const byId = new Map(vms.map((v) => [v.id, v]));
  const qemus = qemuProcesses();
  for (const [hostName, agent] of Object.entries(agents)) {
    const mine = qemus.filter((q) => q.vmDir?.startsWith(`${agent.dataDir}/vms/`));
    const running = new Map();
    for (const q of mine) {
      const id = q.vmDir.slice(`${agent.dataDir}/vms/`.length);
      const vm = byId.get(id);
      assert.ok(vm, `QEMU ${q.pid} on ${hostName} runs ${id}, which the control plane does not know`);
      assert.equal(vm.host, hostName, `${vm.name} runs on ${hostName} but is placed on ${vm.host}`);
      assert.equal(vm.desired_state, 'running', `${vm.name} runs although it should be ${vm.desired_state}`);
      assert.ok(!running.has(id), `${vm.name} runs twice on ${hostName}`);
      running.set(id, q.pid);
    }
    for (const vm of vms.filter((v) => v.desired_state === 'running' && v.host === hostName)) {
      assert.ok(running.has(vm.id), `${vm.name} should run on ${hostName} but has no QEMU there`);
      assert.equal(agent.vmState(vm.id).pid, running.get(vm.id), `${vm.name}: the agent's pid is its QEMU`);
    }
    for (const id of agent.vmIds()) {
      const vm = byId.get(id);
      assert.ok(vm && vm.host === hostName, `${hostName} keeps the directory of ${id}, which is not placed there`);
    }
    const [lo, hi] = agent.ports.split('-').map(Number);
    const pids = new Set(running.values());
    for (const { port, pid } of listeningPorts(agent.host)) {
      // The agent's own API may sit on a port of that range by chance (port 0).
      if (port >= lo && port <= hi && pid !== agent.proc.pid) assert.ok(pids.has(pid), `port ${port} on ${hostName} is held by pid ${pid}, not a wanted VM's QEMU`);
    }
  }
  return vms;
}
