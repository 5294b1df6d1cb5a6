// The tiny test guest (images/build-tiny): see lib/debian_image.mjs.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { builtImage } from './debian_image.mjs';
import { makeKey } from './keys.mjs';

export function tinyImage(arch = 'amd64') {
  return builtImage('build-tiny', arch);
}

// Makes the control plane ready to boot tiny guests: the image imported
// (tiny-amd64), a size t-128mb (1 vCPU, 128 MiB, 1 GiB) and an SSH key
// "tester" (a VM needs one).
export async function addTinyImage(cp) {
  const imported = await cp.post('/v1/images/import', { manifest: join(tinyImage('amd64').dir, 'manifest.json') });
  assert.equal(imported.status, 201, JSON.stringify(imported.body));
  const size = await cp.post('/v1/sizes', { name: 't-128mb', vcpus: 1, memory_mib: 128, disk_gib: 1 });
  assert.equal(size.status, 201, JSON.stringify(size.body));
  const key = await cp.post('/v1/ssh-keys', { name: 'tester', public_key: makeKey().publicKey });
  assert.equal(key.status, 201, JSON.stringify(key.body));
}

// addTinyImage, then a running tiny VM named `name`: the VM as GET answers it.
export async function tinyVm(cp, name) {
  await addTinyImage(cp);
  const r = await cp.post('/v1/vms', { name, size: 't-128mb', image: 'tiny-amd64', ssh_keys: ['tester'] });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  const done = await cp.finished(r.body.operation, 300);
  assert.equal(done.status, 'succeeded', JSON.stringify(done));
  return (await cp.get(`/v1/vms/${name}`)).body;
}
