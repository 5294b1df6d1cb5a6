// A small cloud for multi-host tests: a control plane and N real agents,
// each agent on a test host of its own (lib/testhosts.mjs), the tiny test
// guest imported, a size that fits it and an SSH key.  Everything is
// stopped and removed by cleanup(), even when a test failed.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ControlPlane } from './controlplane.mjs';
import { Agent, until } from './agent.mjs';
import { makeTestHosts } from './testhosts.mjs';
import { tinyImage } from './tiny_image.mjs';
import { makeKey } from './keys.mjs';

export const TINY_SIZE = 't-1vcpu-128mb';

// hosts: [{ name, args }], the agents' extra flags (--vcpus, --emulation ...);
// manifests: more images to import (the real Debian guest's, say).
export async function startCluster(hosts, { cpArgs = [], manifests = [] } = {}) {
  const image = tinyImage('amd64');
  const net = makeTestHosts(hosts.length);
  const c = { net, agents: {}, image: image.manifest.name };
  c.cleanup = async () => {
    for (const a of Object.values(c.agents)) await a.cleanup().catch(() => {});
    await c.cp?.cleanup();
    net.cleanup();
  };
  try {
    c.cp = await new ControlPlane({ listen: net.cpAddress, extraArgs: cpArgs }).start();
    for (const [i, h] of hosts.entries()) {
      c.agents[h.name] = await new Agent(c.cp, { name: h.name, host: net.hosts[i], args: h.args ?? [] }).start();
    }
    await until('every host to join', async () =>
      (await c.cp.get('/v1/hosts')).body.hosts.filter((h) => h.state === 'up').length === hosts.length);
    for (const manifest of [join(image.dir, 'manifest.json'), ...manifests]) {
      const img = await c.cp.post('/v1/images/import', { manifest });
      assert.equal(img.status, 201, JSON.stringify(img.body));
    }
    const size = await c.cp.post('/v1/sizes', { name: TINY_SIZE, vcpus: 1, memory_mib: 128, disk_gib: 1 });
    assert.equal(size.status, 201, JSON.stringify(size.body));
    assert.equal((await c.cp.post('/v1/ssh-keys', { name: 'k', public_key: makeKey().publicKey })).status, 201);
  } catch (e) {
    await c.cleanup();
    throw e;
  }
  c.vm = (name, extra = {}) => ({ name, size: TINY_SIZE, image: c.image, ssh_keys: ['k'], ...extra });
  // The operation, which must have succeeded (else the logs say why).
  c.succeeded = async (op, timeout = 300) => {
    const done = await c.cp.finished(op, timeout);
    const logs = Object.entries(c.agents).map(([n, a]) => `--- ${n}\n${a.log.slice(-1500)}`).join('\n');
    assert.equal(done.status, 'succeeded', `${JSON.stringify(done)}\n${logs}\n--- control plane\n${c.cp.log.slice(-2000)}`);
    return done;
  };
  return c;
}
