// The tiny test guest (images/build-tiny) through the real control plane,
// agent and QEMU: imported from its manifest, it boots to "ready" in
// seconds with the seed's hostname and instance-id, powers off at once on
// a graceful stop (the ACPI power button, not the stop timeout), starts
// again as a new boot and is deleted without a trace.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startControlPlane } from './lib/controlplane.mjs';
import { Agent, processArgv, alive, until } from './lib/agent.mjs';
import { tinyImage } from './lib/tiny_image.mjs';
import { makeKey } from './lib/keys.mjs';

// Generous for a loaded 2-core host under TCG; alone it boots in ~7 s.
const BOOT_LIMIT_S = 60;
// The agent's --stop-timeout is 60 s (lib/agent.mjs): a stop this quick
// was the guest powering off, not the plug pulled after the timeout.
const STOP_LIMIT_MS = 20000;

let cp, agent, image;
before(async () => {
  image = tinyImage('amd64');
  cp = await startControlPlane();
  agent = await new Agent(cp).start();
  await until('the host to join', async () => (await cp.get('/v1/hosts')).body.hosts.find((h) => h.state === 'up'));
  const imported = await cp.post('/v1/images/import', { manifest: join(image.dir, 'manifest.json') });
  assert.equal(imported.status, 201, JSON.stringify(imported.body));
  const size = await cp.post('/v1/sizes', { name: 't-1vcpu-128mb', vcpus: 1, memory_mib: 128, disk_gib: 1 });
  assert.equal(size.status, 201, JSON.stringify(size.body));
  await cp.post('/v1/ssh-keys', { name: 'tester', public_key: makeKey().publicKey });
});
after(async () => {
  await agent?.cleanup();
  await cp?.cleanup();
});

async function waitOp(op, timeout = 300) {
  const done = await cp.finished(op, timeout);
  assert.equal(done.status, 'succeeded', JSON.stringify(done) + '\n' + agent.log.slice(-3000));
  return done;
}

async function action(name, type) {
  const r = await cp.post(`/v1/vms/${name}/actions`, { type });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  return waitOp(r.body.operation);
}

const read = (file) => { try { return readFileSync(file, 'utf8'); } catch { return ''; } };
const report = (dir) => JSON.parse(read(join(dir, 'guest.log')).trim().split('\n').pop());
const bootId = (dir) => report(dir).boot_id;

test('the manifest describes a kernel-booted test guest', () => {
  const m = image.manifest;
  assert.equal(m.name, 'tiny-amd64');
  assert.equal(m.os, 'tiny');
  assert.equal(m.boot, 'kernel');
  assert.equal(m.architecture, 'x86_64');
  assert.match(m.kernel.cmdline, /console=ttyS0/);
  for (const f of [m.file, m.kernel.file, m.initrd.file]) assert.ok(existsSync(join(image.dir, f)), f);
});

test('a tiny guest boots to ready in seconds, stops at once, starts again and is deleted', async (t) => {
  const t0 = Date.now();
  const created = await cp.post('/v1/vms', { name: 'tiny-1', size: 't-1vcpu-128mb', image: 'tiny-amd64', ssh_keys: ['tester'] });
  assert.equal(created.status, 202, JSON.stringify(created.body));
  const id = created.body.vm.id;
  const op = await waitOp(created.body.operation);
  t.diagnostic(`create to ready: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  assert.match(op.message, /^ready/);

  const vm = (await cp.get(`/v1/vms/${id}`)).body;
  assert.equal(vm.state, 'running');
  assert.equal(vm.guest_state, 'ready', JSON.stringify(vm));
  assert.ok(vm.boot_seconds >= 0 && vm.boot_seconds < BOOT_LIMIT_S, JSON.stringify(vm));
  t.diagnostic(`boot_seconds: ${vm.boot_seconds}, guest uptime at ready: ${report(agent.vmDir(id)).uptime} s`);

  const dir = agent.vmDir(id);
  const { pid } = agent.vmState(id);
  const argv = processArgv(pid);
  assert.equal(argv[argv.indexOf('-m') + 1], '128M');
  assert.ok(argv.includes('-kernel') && argv.includes('-initrd'), 'direct kernel boot');
  assert.equal(argv[argv.indexOf('-append') + 1], image.manifest.kernel.cmdline);

  // What /init says on the serial console: the seed's identity, honestly
  // as a test guest (nothing in it claims to be cloud-init).
  const serial = read(join(dir, 'serial.log'));
  assert.match(serial, /tiny test guest/);
  assert.match(serial, new RegExp(`instance-id ${id}, local-hostname tiny-1`));
  assert.match(serial, /hostname set to tiny-1/);
  assert.match(serial, /ready after [\d.]+ s/);
  assert.doesNotMatch(serial, /cloud-init|error:/);
  const firstBoot = bootId(dir);
  assert.match(firstBoot, /^[0-9a-f-]{36}$/);

  // A graceful stop presses the ACPI power button: the guest powers off at
  // once, long before the agent's stop timeout.
  const s0 = Date.now();
  await action('tiny-1', 'stop');
  const stopMs = Date.now() - s0;
  t.diagnostic(`graceful stop: ${(stopMs / 1000).toFixed(1)} s`);
  assert.ok(stopMs < STOP_LIMIT_MS, `the stop took ${stopMs} ms`);
  assert.doesNotMatch(agent.log, /did not power off/);
  assert.match(read(join(dir, 'serial.log')), /power button \(\/dev\/input\/event\d+\): powering off/);
  assert.equal((await cp.get('/v1/vms/tiny-1')).body.state, 'stopped');
  assert.equal(alive(pid), false, 'QEMU is gone after a stop');

  // Started again: a new QEMU and a new boot, ready again.
  const a0 = Date.now();
  const started = await action('tiny-1', 'start');
  t.diagnostic(`start to ready: ${((Date.now() - a0) / 1000).toFixed(1)} s`);
  assert.match(started.message, /^ready/);
  const pid2 = agent.vmState(id).pid;
  assert.notEqual(pid2, pid);
  assert.ok(alive(pid2));
  assert.equal((await cp.get('/v1/vms/tiny-1')).body.guest_state, 'ready');
  assert.notEqual(bootId(dir), firstBoot, 'a new boot');
  assert.match(read(join(dir, 'serial.log')), /hostname set to tiny-1/);

  const del = await cp.del('/v1/vms/tiny-1');
  assert.equal(del.status, 202);
  await waitOp(del.body.operation, 120);
  assert.equal((await cp.get('/v1/vms/tiny-1')).status, 404);
  await until('QEMU to be gone', () => !alive(pid2), 10000);
  assert.equal(existsSync(dir), false, 'disk, seed, sockets and logs are gone');
  assert.deepEqual(agent.vmIds(), []);
});
