// An acknowledged write survives kill -9 of the control plane, and the
// schema version is kept across restarts.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startControlPlane } from './lib/controlplane.mjs';
import { makeKey } from './lib/keys.mjs';

let cp;
after(async () => { await cp?.cleanup(); });

test('acknowledged writes survive SIGKILL, again and again', async () => {
  cp = await startControlPlane({ extraArgs: ['--host-timeout', '3600'] });
  await cp.joinHost();
  const version = (await cp.get('/v1/health', { token: null })).body.schema_version;
  assert.ok(Number.isInteger(version) && version >= 1, String(version));
  const key = makeKey('ed25519');
  assert.equal((await cp.post('/v1/ssh-keys', { name: 'k', public_key: key.publicKey })).status, 201);
  const acknowledged = [];
  for (let round = 0; round < 3; round++) {
    // Many writes in flight at once; kill as soon as the last answer is in.
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) =>
      cp.post('/v1/vms', { name: `r${round}-vm-${i}`, size: 's-1vcpu-512mb', image: 'debian-12-amd64', ssh_keys: ['k'] })));
    for (const a of answers) {
      assert.equal(a.status, 202);
      acknowledged.push(a.body.vm.id, a.body.operation.id);
    }
    const deleted = await cp.del(`/v1/vms/r${round}-vm-0`);
    assert.equal(deleted.status, 202);
    const { signal } = await cp.stop('SIGKILL');
    assert.equal(signal, 'SIGKILL');
    await cp.start();
    const vms = (await cp.get('/v1/vms?limit=1000')).body.vms.map((v) => v.id);
    const ops = (await cp.get('/v1/operations?limit=1000')).body.operations.map((o) => o.id);
    for (const id of acknowledged) {
      if (id.startsWith('vm-')) continue;
      assert.ok(ops.includes(id), `operation ${id} survived`);
    }
    assert.equal(vms.length, 20 * (round + 1), 'every acknowledged VM is there');
    // The delete was acknowledged too: it waits for the host to destroy the VM.
    const gone = (await cp.get(`/v1/vms/r${round}-vm-0`)).body;
    assert.equal(gone.desired_state, 'deleted');
    assert.equal(gone.state, 'deleting');
  }
  const health = await cp.get('/v1/health', { token: null });
  assert.equal(health.body.schema_version, version, 'the schema version is kept across restarts');
});

// While the control plane is down no host can report: after a restart a
// host's silence counts from the start, so hosts are not marked down (and
// their VMs unknown) for the minutes the control plane itself was away.
test('after a restart, hosts get the whole host-timeout to report before they are down', async () => {
  const timeout = 4;
  const c2 = await startControlPlane({ extraArgs: ['--host-timeout', String(timeout), '--reconcile-interval', '100'] });
  try {
    await c2.joinHost({ name: 'quiet' }); // a host that never sends a heartbeat
    await c2.stop('SIGKILL');
    await new Promise((r) => setTimeout(r, (timeout + 1) * 1000)); // its join is now too old
    const started = Date.now();
    await c2.start();
    await new Promise((r) => setTimeout(r, 1000)); // ten reconciler passes
    assert.equal((await c2.get('/v1/hosts/quiet')).body.state, 'up', 'not down one second after the start');
    let state;
    while ((state = (await c2.get('/v1/hosts/quiet')).body.state) === 'up' && Date.now() - started < 30000)
      await new Promise((r) => setTimeout(r, 100));
    const waited = (Date.now() - started) / 1000;
    assert.equal(state, 'down', 'a host that stays silent is down in the end');
    assert.ok(waited >= timeout - 0.5, `down ${waited.toFixed(1)} s after the start, host-timeout is ${timeout} s`);
    assert.match(c2.log, /stopped sending heartbeats: marked down/);
  } finally {
    await c2.cleanup();
  }
});
