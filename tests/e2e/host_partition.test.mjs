// A host cut off the network (its link down) for longer than the heartbeat
// timeout, with a real Debian guest on it: the control plane marks the host
// down and its VMs unknown, keeps what the user asks meanwhile, and when the
// host is back re-adopts the guest (the same QEMU, the same boot: SSH with
// the injected key works again and the boot id has not changed) and carries
// out the delete that waited.  Two agents, each in a network namespace of
// its own (lib/testhosts.mjs).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { alive, until } from '../integration/lib/agent.mjs';
import { startCluster } from '../integration/lib/cluster.mjs';
import { assertConverged } from '../integration/lib/convergence.mjs';
import { debianImage, makeKeyPair, ssh } from './lib/cloud.mjs';

let c, cp, key;
before(async () => {
  const debian = debianImage('amd64');
  c = await startCluster([{ name: 'p1' }, { name: 'p2' }], {
    cpArgs: ['--host-timeout', '5', '--reconcile-interval', '250'],
    manifests: [join(debian.dir, 'manifest.json')],
  });
  cp = c.cp;
  key = makeKeyPair();
  assert.equal((await cp.post('/v1/ssh-keys', { name: 'tester', public_key: key.publicKey })).status, 201);
});
after(async () => {
  await c?.cleanup();
  key?.cleanup();
});

async function guest(vm, command) {
  return ssh({ key: key.privateKeyFile, user: vm.ssh.user, host: vm.ssh.host, port: vm.ssh.port }, command);
}

test('a Debian guest on a host that vanished past the heartbeat timeout is re-adopted when it returns', async () => {
  const deb = await cp.post('/v1/vms', {
    name: 'partitioned', size: 's-1vcpu-512mb', image: 'debian-12-local-amd64', boot: 'kernel',
    ssh_keys: ['tester'], host: 'p2',
  });
  assert.equal(deb.status, 202, JSON.stringify(deb.body));
  const tiny = await cp.post('/v1/vms', c.vm('doomed', { host: 'p2' }));
  assert.equal(tiny.status, 202, JSON.stringify(tiny.body));
  await c.succeeded(tiny.body.operation);
  await c.succeeded(deb.body.operation, 900);
  const vm = (await cp.get('/v1/vms/partitioned')).body;
  const first = await guest(vm, 'cat /proc/sys/kernel/random/boot_id; hostname');
  assert.equal(first.code, 0, first.stderr);
  const [bootId, hostname] = first.stdout.trim().split('\n');
  assert.equal(hostname, 'partitioned');
  const p2 = c.agents.p2;
  const pid = p2.vmState(vm.id).pid;

  const link = c.net.hosts[1];
  link.disconnect(p2);
  try {
    await until('p2 to be down', async () => (await cp.get('/v1/hosts/p2')).body.state === 'down', 30000);
    assert.equal((await cp.get('/v1/vms/partitioned')).body.state, 'unknown');
    assert.equal((await cp.del('/v1/vms/doomed')).status, 202, 'a delete is taken while the host is away');
    if (link.kind === 'netns') {
      const cut = await guest(vm, 'true');
      assert.notEqual(cut.code, 0, 'the guest is unreachable while its host is cut off');
    }
    assert.ok(alive(pid), 'the guest keeps running on its host meanwhile');
  } finally {
    link.reconnect(p2);
  }
  await until('the guest to be running and ready again', async () => {
    const v = (await cp.get('/v1/vms/partitioned')).body;
    return v.state === 'running' && v.guest_state === 'ready';
  }, 60000);
  assert.equal(p2.vmState(vm.id).pid, pid, 're-adopted: the same QEMU');
  const again = await guest(vm, 'cat /proc/sys/kernel/random/boot_id; hostname');
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(again.stdout.trim().split('\n'), [bootId, hostname], 'the same boot: no restart');
  await until('the delete that waited to be carried out', async () => (await cp.get('/v1/vms/doomed')).status === 404, 60000);
  await assertConverged(cp, c.agents);
});
