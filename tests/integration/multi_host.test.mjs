// Three real agents, each on a host of its own (a network namespace with
// its own address, or a loopback address where namespaces cannot be made),
// running the tiny test guest: placement across them, then the faults a
// small cloud meets (an agent killed while creates are in flight, a host
// that drops off the network for longer than the heartbeat timeout, a host
// whose every QEMU dies), each ending with the check that every VM is as
// desired and nothing is orphaned (lib/convergence.mjs).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { alive, until } from './lib/agent.mjs';
import { startCluster } from './lib/cluster.mjs';
import { assertConverged } from './lib/convergence.mjs';

let c, cp;
before(async () => {
  // h1 may run aarch64 guests under emulation; h2 and h3 may not.  Each
  // offers 2 vCPUs and 2 GiB, whatever the machine has.
  const offer = ['--vcpus', '2', '--memory', '2048'];
  c = await startCluster([
    { name: 'h1', args: [...offer, '--emulation', 'auto'] },
    { name: 'h2', args: [...offer, '--emulation', 'off'] },
    { name: 'h3', args: [...offer, '--emulation', 'off'] },
  ], { cpArgs: ['--host-timeout', '4', '--reconcile-interval', '250'] });
  cp = c.cp;
});
after(async () => { await c?.cleanup(); });

const hostOf = async (name) => (await cp.get(`/v1/vms/${name}`)).body.host;

test('VMs spread across the hosts, a pinned VM lands where pinned, aarch64 only where it runs', async () => {
  const created = [];
  for (let i = 0; i < 6; i++) {
    const r = await cp.post('/v1/vms', c.vm(`spread-${i}`));
    assert.equal(r.status, 202, JSON.stringify(r.body));
    created.push(r.body);
  }
  const counts = {};
  for (const r of created) counts[r.vm.host] = (counts[r.vm.host] ?? 0) + 1;
  assert.deepEqual(counts, { h1: 2, h2: 2, h3: 2 }, 'spread: two on each host');
  const pinned = await cp.post('/v1/vms', c.vm('pinned', { host: 'h3' }));
  assert.equal(pinned.status, 202, JSON.stringify(pinned.body));
  assert.equal(pinned.body.vm.host, 'h3');
  for (const r of [...created, pinned.body]) await c.succeeded(r.operation);

  // aarch64: only h1 runs it (emulated); with h1 drained nothing does.
  const arm = await cp.post('/v1/vms', c.vm('arm', { image: 'debian-12-arm64' }));
  assert.equal(arm.status, 202, JSON.stringify(arm.body));
  assert.equal(arm.body.vm.host, 'h1');
  assert.equal(arm.body.vm.emulated, true);
  assert.equal((await cp.del('/v1/vms/arm')).status, 202);
  assert.equal((await cp.post('/v1/hosts/h1/actions', { type: 'drain' })).status, 200);
  const none = await cp.post('/v1/vms', c.vm('arm-2', { image: 'debian-12-arm64' }));
  assert.equal(none.status, 409, JSON.stringify(none.body));
  assert.match(none.body.error.message, /h2.*aarch64|aarch64.*h2/s);
  assert.equal((await cp.post('/v1/hosts/h1/actions', { type: 'return' })).status, 200);
  await until('the aarch64 VM to be gone', async () => (await cp.get('/v1/vms/arm')).status === 404, 60000);
  await assertConverged(cp, c.agents);
});

test('an agent killed while creates are in flight: every acknowledged VM comes up once', async () => {
  const names = Array.from({ length: 6 }, (_, i) => `inflight-${i}`);
  const creates = names.map((n) => cp.post('/v1/vms', c.vm(n)));
  await new Promise((r) => setTimeout(r, 300));
  await c.agents.h2.stop('SIGKILL');
  const acked = await Promise.all(creates);
  for (const r of acked) assert.equal(r.status, 202, JSON.stringify(r.body));
  await new Promise((r) => setTimeout(r, 1500));
  await c.agents.h2.start();
  for (const r of acked) await c.succeeded(r.body.operation);
  await assertConverged(cp, c.agents);
});

test('a host off the network past the heartbeat timeout is down, its VMs unknown; back, it converges', async () => {
  const h3 = c.agents.h3;
  const onH3 = (await cp.get('/v1/vms?host=h3&limit=1000')).body.vms.map((v) => v.name);
  assert.ok(onH3.length >= 3, `h3 has VMs: ${onH3}`);
  const pids = Object.fromEntries(onH3.map((n) => [n, null]));
  for (const v of (await cp.get('/v1/vms?host=h3&limit=1000')).body.vms) pids[v.name] = h3.vmState(v.id).pid;
  const [gone, stopped] = onH3;

  c.net.hosts[2].disconnect(h3);
  try {
    await until('h3 to be down', async () => (await cp.get('/v1/hosts/h3')).body.state === 'down', 30000);
    for (const n of onH3) assert.equal((await cp.get(`/v1/vms/${n}`)).body.state, 'unknown', `${n} is unknown, not running`);
    // What the user asks meanwhile is kept and carried out on return.
    assert.equal((await cp.del(`/v1/vms/${gone}`)).status, 202);
    const stop = await cp.post(`/v1/vms/${stopped}/actions`, { type: 'stop' });
    assert.equal(stop.status, 202, JSON.stringify(stop.body));
    const fresh = await cp.post('/v1/vms', c.vm('while-h3-away'));
    assert.equal(fresh.status, 202);
    assert.notEqual(fresh.body.vm.host, 'h3', 'nothing new goes to a host that is down');
    await new Promise((r) => setTimeout(r, 2000));
    for (const n of onH3) assert.ok(alive(pids[n]), `${n} keeps running while its host is unreachable`);
    c.net.hosts[2].reconnect(h3);
    await c.succeeded(stop.body.operation);
    await c.succeeded(fresh.body.operation);
  } finally {
    c.net.hosts[2].reconnect(h3);
  }
  await until(`${gone} to be gone`, async () => (await cp.get(`/v1/vms/${gone}`)).status === 404, 60000);
  for (const n of onH3.slice(2)) {
    assert.equal((await cp.get(`/v1/vms/${n}`)).body.state, 'running');
    assert.ok(alive(pids[n]), `${n} was re-adopted: the same QEMU`);
  }
  await assertConverged(cp, c.agents);
});

test('every QEMU of a host killed with its agent (a reboot): the VMs meant to run come back', async () => {
  const h1 = c.agents.h1;
  const vms = (await cp.get('/v1/vms?host=h1&limit=1000')).body.vms;
  assert.ok(vms.length > 0);
  await h1.stop('SIGKILL');
  const before = Object.fromEntries(vms.map((v) => [v.id, h1.vmState(v.id).pid]));
  for (const pid of Object.values(before)) if (pid > 0) process.kill(pid, 'SIGKILL');
  await until('every QEMU of h1 to be gone', () => Object.values(before).every((p) => !alive(p)), 20000);
  await h1.start();
  // Until h1 reports, the control plane still shows what it saw before the
  // kill (every VM running): wait for the new QEMUs, then check it all.
  const meant = vms.filter((x) => x.desired_state === 'running');
  await until('h1 to start its VMs again', () => meant.every((v) => {
    const pid = h1.vmState(v.id).pid;
    return alive(pid) && pid !== before[v.id];
  }), 120000);
  await assertConverged(cp, c.agents);
  for (const v of meant) {
    const pid = h1.vmState(v.id).pid;
    assert.ok(alive(pid) && pid !== before[v.id], `${v.name} runs again in a new QEMU`);
  }
});

test('deleting every VM leaves no QEMU, disk or directory on any host; a late order cannot bring one back', async () => {
  const vms = (await cp.get('/v1/vms?limit=1000')).body.vms;
  const h1 = c.agents.h1;
  const late = vms.find((v) => v.host === 'h1');
  const spec = JSON.parse(readFileSync(join(h1.vmDir(late.id), 'spec.json'), 'utf8'));
  for (const v of vms) assert.equal((await cp.del(`/v1/vms/${v.name}`)).status, 202);
  await until('every VM to be gone', async () => (await cp.get('/v1/vms')).body.vms.length === 0, 120000);
  await assertConverged(cp, c.agents);
  // The order as it was, delayed in transit, then delivered after the delete.
  const { order_token: token } = JSON.parse(readFileSync(join(h1.dataDir, 'credentials.json'), 'utf8'));
  const res = await fetch(`http://${h1.host.address}:${h1.port}/v1/vms/${late.id}`, {
    method: 'PUT', headers: { Authorization: `Bearer ${token}` }, body: JSON.stringify({ ...spec, generation: spec.generation + 1 }),
  });
  const body = await res.json();
  assert.equal(res.status, 410, JSON.stringify(body));
  assert.match(body.error.message, /was deleted on this host/);
  for (const a of Object.values(c.agents)) {
    assert.deepEqual(a.vmIds(), []);
    for (const v of vms) assert.equal(existsSync(a.vmDir(v.id)), false);
  }
});
