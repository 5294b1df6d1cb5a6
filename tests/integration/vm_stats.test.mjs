// GET /v1/vms/{id}/stats on the control plane (relayed from the VM's
// host) and on the agent, with a running tiny VM: CPU seconds that are its
// QEMU's (between two readings of /proc/<pid>/stat taken around the call)
// and grow between two samples a few seconds apart, a resident memory that
// is its QEMU's, the size's memory, a sample time; the agent's /metrics
// has the VM's two series.  A host that does not answer in time gives a
// clear 504; a stopped VM a clear 409 (on both daemons); an unknown VM 404.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startControlPlane } from './lib/controlplane.mjs';
import { Agent, until } from './lib/agent.mjs';
import { tinyVm } from './lib/tiny_image.mjs';

const MiB = 1048576;
const TICKS = 100; // USER_HZ: /proc's clock ticks per second on Linux

let cp, agent, vm;
before(async () => {
  cp = await startControlPlane();
  agent = await new Agent(cp).start();
  await until('the host to join', async () => (await cp.get('/v1/hosts')).body.hosts.find((h) => h.state === 'up'));
  vm = await tinyVm(cp, 'stats-1'); // size t-128mb: 128 MiB
});
after(async () => {
  if (agent?.proc) try { process.kill(agent.proc.pid, 'SIGCONT'); } catch { /* gone */ }
  await agent?.cleanup();
  await cp?.cleanup();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function orderToken() {
  return JSON.parse(readFileSync(join(agent.dataDir, 'credentials.json'), 'utf8')).order_token;
}

async function fromAgent(path, token = orderToken()) {
  const res = await fetch(`http://127.0.0.1:${agent.port}${path}`, {
    headers: token ? { Authorization: `Bearer ${token}` } : {},
  });
  const text = await res.text();
  let body = text;
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, body };
}

// utime + stime of the VM's QEMU in seconds, straight from /proc.
function qemuCpuSeconds() {
  const stat = readFileSync(`/proc/${agent.vmState(vm.id).pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS; // fields 14 and 15
}

function assertShape(s) {
  assert.deepEqual(Object.keys(s).sort(), ['cpu_seconds', 'memory_bytes', 'rss_bytes', 'sampled_at', 'vm_id']);
  assert.equal(s.vm_id, vm.id);
  assert.equal(s.memory_bytes, 128 * MiB, 'the size\'s memory');
  assert.ok(Number.isInteger(s.rss_bytes) && s.rss_bytes > MiB, `rss_bytes ${s.rss_bytes}`);
  assert.match(s.sampled_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.ok(Math.abs(Date.parse(s.sampled_at) - Date.now()) < 60000, `sampled_at ${s.sampled_at}`);
}

test('through the control plane: the QEMU\'s CPU seconds, growing between samples, its RSS and the size\'s memory', async () => {
  const low = qemuCpuSeconds();
  const first = await cp.get(`/v1/vms/${vm.name}/stats`);
  const high = qemuCpuSeconds();
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assertShape(first.body);
  assert.ok(first.body.cpu_seconds > 0, `cpu_seconds ${first.body.cpu_seconds}`);
  assert.ok(first.body.cpu_seconds >= low && first.body.cpu_seconds <= high,
    `cpu_seconds ${first.body.cpu_seconds} is not the QEMU's (${low} .. ${high})`);
  const status = readFileSync(`/proc/${agent.vmState(vm.id).pid}/status`, 'utf8');
  const rssKiB = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)[1]);
  assert.ok(Math.abs(first.body.rss_bytes - rssKiB * 1024) < 64 * MiB,
    `rss_bytes ${first.body.rss_bytes} is not the QEMU's VmRSS (${rssKiB} KiB)`);

  await sleep(3000);
  const second = await cp.get(`/v1/vms/${vm.id}/stats`);
  assert.equal(second.status, 200, JSON.stringify(second.body));
  assertShape(second.body);
  assert.ok(second.body.cpu_seconds > first.body.cpu_seconds,
    `CPU seconds did not grow: ${first.body.cpu_seconds} then ${second.body.cpu_seconds}`);
  const wall = (Date.parse(second.body.sampled_at) - Date.parse(first.body.sampled_at)) / 1000;
  assert.ok(wall >= 2.9 && wall < 30, `${wall} s between the samples`);
});

test('on the agent: the same route with the order token, and /metrics has the VM\'s two series', async () => {
  const r = await fromAgent(`/v1/vms/${vm.id}/stats`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assertShape(r.body);
  assert.equal((await fromAgent(`/v1/vms/${vm.id}/stats`, null)).status, 401);
  const unknown = await fromAgent('/v1/vms/vm-00000000000000000000000000000000/stats');
  assert.equal(unknown.status, 404, JSON.stringify(unknown.body));
  assert.equal(unknown.body.error.code, 'not_found');

  const metrics = await fromAgent('/metrics');
  assert.equal(metrics.status, 200);
  const text = metrics.body;
  assert.match(text, /^# HELP cumulus_vm_cpu_seconds_total \S.*$/m);
  assert.match(text, /^# TYPE cumulus_vm_cpu_seconds_total counter$/m);
  assert.match(text, /^# HELP cumulus_vm_memory_rss_bytes \S.*$/m);
  assert.match(text, /^# TYPE cumulus_vm_memory_rss_bytes gauge$/m);
  const sample = (name) => {
    const m = new RegExp(`^${name}\\{vm="${vm.id}"\\} (\\S+)$`, 'm').exec(text);
    assert.ok(m, `no ${name} for ${vm.id} in:\n${text}`);
    return Number(m[1]);
  };
  assert.ok(sample('cumulus_vm_cpu_seconds_total') >= r.body.cpu_seconds);
  assert.ok(sample('cumulus_vm_memory_rss_bytes') > MiB);
});

test('an unknown VM is 404', async () => {
  const r = await cp.get('/v1/vms/no-such-vm/stats');
  assert.equal(r.status, 404, JSON.stringify(r.body));
  assert.equal(r.body.error.code, 'not_found');
  assert.match(r.body.error.message, /no-such-vm/);
});

test('a host that does not answer: 504 within the relay\'s 5 s, naming the VM and its host', async () => {
  process.kill(agent.proc.pid, 'SIGSTOP'); // alive, listening, silent
  try {
    const t0 = Date.now();
    const r = await cp.get(`/v1/vms/${vm.name}/stats`);
    assert.equal(r.status, 504, JSON.stringify(r.body));
    assert.equal(r.body.error.code, 'timeout');
    assert.match(r.body.error.message, /VM 'stats-1'.*host 'host-1'/);
    assert.ok(Date.now() - t0 < 9000, `answered after ${Date.now() - t0} ms`);
  } finally {
    process.kill(agent.proc.pid, 'SIGCONT');
  }
  // Heard again.
  await until('the stats again', async () => (await cp.get(`/v1/vms/${vm.name}/stats`)).status === 200, 20000);
});

test('a stopped VM: 409 in words, on the control plane and on its host', async () => {
  const r = await cp.post(`/v1/vms/${vm.name}/actions`, { type: 'power_off' });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  const done = await cp.finished(r.body.operation, 120);
  assert.equal(done.status, 'succeeded', JSON.stringify(done));
  const viaCp = await cp.get(`/v1/vms/${vm.name}/stats`);
  assert.equal(viaCp.status, 409, JSON.stringify(viaCp.body));
  assert.equal(viaCp.body.error.code, 'conflict');
  assert.match(viaCp.body.error.message, /VM 'stats-1' is stopped: its CPU and memory figures are there while it runs/);
  const viaAgent = await fromAgent(`/v1/vms/${vm.id}/stats`);
  assert.equal(viaAgent.status, 409, JSON.stringify(viaAgent.body));
  assert.match(viaAgent.body.error.message, /is stopped/);
  const metrics = (await fromAgent('/metrics')).body;
  assert.doesNotMatch(metrics, new RegExp(`cumulus_vm_cpu_seconds_total\\{vm="${vm.id}"\\}`), 'a series for a stopped VM');
});
