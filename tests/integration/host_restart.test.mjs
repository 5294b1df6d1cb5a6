// A host that restarts (every QEMU gone, the agent killed and started
// again) brings back, from their existing disks, the VMs whose autostart
// says so: "last" restarts what was running and leaves stopped what a user
// stopped; "never" stays stopped until someone starts it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { startControlPlane } from './lib/controlplane.mjs';
import { Agent, alive, until } from './lib/agent.mjs';
import { debianImage } from './lib/debian_image.mjs';
import { makeKey } from './lib/keys.mjs';

let cp, agent;
before(async () => {
  const image = debianImage('amd64');
  cp = await startControlPlane();
  agent = await new Agent(cp).start();
  await until('the host to join', async () => (await cp.get('/v1/hosts')).body.hosts.find((h) => h.state === 'up'));
  const img = await cp.post('/v1/images/import', { manifest: join(image.dir, 'manifest.json') });
  assert.equal(img.status, 201, JSON.stringify(img.body));
  await cp.post('/v1/ssh-keys', { name: 'k', public_key: makeKey().publicKey });
});
after(async () => {
  await agent?.cleanup();
  await cp?.cleanup();
});

// The operation, which must have succeeded (else the agent's log says why).
async function waitOp(op, timeout = 900) {
  const done = await cp.finished(op, timeout);
  assert.equal(done.status, 'succeeded', JSON.stringify(done) + '\n' + agent.log.slice(-3000));
  return done;
}

test('after a host restart, autostart decides which VMs run again, from their own disks', async () => {
  const specs = [['keep-last', 'last'], ['keep-never', 'never'], ['user-stopped', 'last']];
  const created = [];
  for (const [name, autostart] of specs) {
    const r = await cp.post('/v1/vms', { name, size: 's-1vcpu-512mb', image: 'debian-12-local-amd64', boot: 'kernel', ssh_keys: ['k'], autostart });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.equal(r.body.vm.autostart, autostart);
    created.push(r.body);
  }
  for (const c of created) await waitOp(c.operation);
  const ids = Object.fromEntries(created.map((c) => [c.vm.name, c.vm.id]));
  const off = await cp.post('/v1/vms/user-stopped/actions', { type: 'power_off' });
  assert.equal(off.status, 202);
  await waitOp(off.body.operation, 120);
  const disks = Object.fromEntries(Object.entries(ids).map(([n, id]) => [n, statSync(join(agent.vmDir(id), 'disk.qcow2')).ino]));

  // The host "reboots": the agent dies with every QEMU of the host.
  await agent.stop('SIGKILL');
  for (const id of Object.values(ids)) {
    const { pid } = agent.vmState(id);
    if (pid > 0) process.kill(pid, 'SIGKILL');
  }
  await until('every QEMU to be gone', () => Object.values(ids).every((id) => !alive(agent.vmState(id).pid)), 20000);
  await agent.start();

  await until('keep-last to run again', () => alive(agent.vmState(ids['keep-last']).pid), 60000, 500);
  await until('the control plane to see it', async () => (await cp.get('/v1/vms/keep-last')).body.state === 'running', 30000);
  await until('the others to be reported stopped', async () => {
    const states = await Promise.all(['keep-never', 'user-stopped'].map(async (n) => (await cp.get(`/v1/vms/${n}`)).body.state));
    return states.every((s) => s === 'stopped');
  }, 30000);
  for (const name of ['keep-never', 'user-stopped']) assert.equal(alive(agent.vmState(ids[name]).pid), false, `${name} stays stopped`);
  for (const [name, id] of Object.entries(ids)) {
    assert.equal(statSync(join(agent.vmDir(id), 'disk.qcow2')).ino, disks[name], `${name} keeps its disk`);
  }
  assert.equal(agent.vmState(ids['keep-last']).last_state, 'running');
  assert.equal(agent.vmState(ids['user-stopped']).last_state, 'stopped');
  assert.match(agent.log, /not started again after the host restart \(autostart never/);

  // An explicit start still works for the one autostart kept down.
  const start = await cp.post('/v1/vms/keep-never/actions', { type: 'start' });
  assert.equal(start.status, 202, JSON.stringify(start.body));
  await until('keep-never to run after its start', () => alive(agent.vmState(ids['keep-never']).pid), 60000, 500);

  const bad = await cp.post('/v1/vms', { name: 'bad', size: 's-1vcpu-512mb', image: 'debian-12-local-amd64', ssh_keys: ['k'], autostart: 'sometimes' });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.field, 'autostart');
});
