// Golden images baked by cloud-init in a real Debian guest, the way the
// second seed article makes them: POST /v1/images/bake boots the local
// image with user-data, cloud-init runs it and powers the guest off, and
// the disk becomes an image.  A VM made from it has what the bake put
// there, with its own hostname, instance-id and machine-id.  A bake whose
// user-data fails ends with cloud-init's own status and the end of its log
// in the operation's error, the image in 'error', and nothing left on the
// host.  Either way the VM that baked is gone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Cloud, debianImage } from './lib/cloud.mjs';

const cloud = new Cloud();
before(() => cloud.explain(async () => {
  const image = debianImage('amd64');
  await cloud.start({ manifest: join(image.dir, 'manifest.json') });
}));
after(() => cloud.cleanup());

const GOLDEN = `#cloud-config
write_files:
  - path: /usr/local/bin/golden-hello
    permissions: '0755'
    content: |
      #!/bin/sh
      echo "hello from the golden image"
runcmd:
  - [sh, -c, "cat /etc/machine-id > /etc/golden-baked-machine-id"]
  - [sh, -c, "cat /var/lib/cloud/data/instance-id > /etc/golden-baked-instance-id"]
`;

async function bake(name, userData) {
  const r = await cloud.cp.post('/v1/images/bake', {
    name, image: cloud.image.name, size: 's-1vcpu-1gb', user_data: userData, timeout: 1200,
  });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  assert.equal(r.body.image.state, 'creating');
  const t0 = Date.now();
  const done = await cloud.finish(r.body.operation, 1500);
  cloud.note(`bake '${name}' ${done.status} in ${((Date.now() - t0) / 1000).toFixed(0)} s: ${done.message ?? ''}`);
  return { ...r.body, done };
}

// The VM that baked is deleted, and its host keeps nothing of it.
async function assertBakeVmGone(vm) {
  const deadline = Date.now() + 120000;
  while ((await cloud.cp.get(`/v1/vms/${vm.id}`)).status !== 404) {
    assert.ok(Date.now() < deadline, `the VM that baked (${vm.name}) is still there`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  assert.ok(!cloud.agent.vmIds().includes(vm.id), 'its directory is gone from the host');
}

test('a bake makes a golden image that new VMs boot from, as themselves', () => cloud.explain(async () => {
  const b = await bake('golden', GOLDEN);
  assert.equal(b.done.status, 'succeeded', JSON.stringify(b.done));
  const img = (await cloud.cp.get('/v1/images/golden')).body;
  assert.deepEqual([img.state, img.origin, img.source.image], ['ready', 'bake', cloud.image.name]);
  assert.match(img.checksum, /^sha256:[0-9a-f]{64}$/);
  const file = join(cloud.cp.dataDir, 'images', img.id, 'disk.qcow2');
  const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', file], { encoding: 'utf8' }));
  assert.equal(info['backing-filename'], undefined, 'flattened: no backing file');
  await assertBakeVmGone(b.vm);

  const created = await cloud.createVm({ name: 'from-golden', size: 's-1vcpu-1gb', image: 'golden' });
  await cloud.succeed(created.operation);
  const vm = await cloud.vm('from-golden');
  await cloud.waitSsh(vm);
  assert.equal((await cloud.sshOk(vm, '/usr/local/bin/golden-hello')).trim(), 'hello from the golden image');
  assert.equal((await cloud.sshOk(vm, 'hostname')).trim(), 'from-golden');
  assert.match(await cloud.sshOk(vm, 'cloud-init status'), /status: done/);
  assert.equal((await cloud.sshOk(vm, 'cat /var/lib/cloud/data/instance-id')).trim(), vm.id);
  const baked = (await cloud.sshOk(vm, 'cat /etc/golden-baked-instance-id')).trim();
  assert.equal(baked, b.vm.id, 'the bake ran as its own instance');
  const machineId = (await cloud.sshOk(vm, 'cat /etc/machine-id')).trim();
  assert.match(machineId, /^[0-9a-f]{32}$/);
  assert.notEqual(machineId, (await cloud.sshOk(vm, 'cat /etc/golden-baked-machine-id')).trim(),
    'a VM from the image has a machine-id of its own');
  assert.equal(vm.state, 'running', 'the bake\'s power-off is not the new VM\'s');
  await cloud.remove('from-golden');
}));

test('a bake whose user-data fails reports cloud-init\'s status and log, and leaves nothing', () => cloud.explain(async () => {
  const b = await bake('broken', `#cloud-config
runcmd:
  - [sh, -c, "echo bake-step-one-done; echo bake-step-two-broke >&2; exit 3"]
`);
  assert.equal(b.done.status, 'failed', JSON.stringify(b.done));
  assert.equal(b.done.error.code, 'cloud_init_failed');
  const msg = b.done.error.message;
  assert.match(msg, /scripts-user/, msg);
  assert.match(msg, /cloud-init status --long:\nstatus: error/, msg);
  assert.match(msg, /cloud-init-output\.log:[\s\S]*bake-step-one-done[\s\S]*bake-step-two-broke/, msg);
  assert.equal((await cloud.cp.get('/v1/images/broken')).body.state, 'error');
  await assertBakeVmGone(b.vm);
  assert.deepEqual(cloud.agent.vmIds(), [], 'nothing is left on the host');
}));
