// End to end on aarch64: the arm64 Debian image, imported into a control
// plane whose only host is this x86_64 machine, boots under
// qemu-system-aarch64 (TCG) through UEFI firmware, cloud-init configures it
// from its user_data, and we SSH in with the key we uploaded. One boot.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Cloud, alive, debianImage, gone, processArgv, processesUsing, until } from './lib/cloud.mjs';
import { DEB_NAME, RUNCMD_LOG, installingUserData } from './lib/userdata.mjs';

const cloud = new Cloud();
let image;

before(() => cloud.explain(async () => {
  image = debianImage('arm64');
  await cloud.start({ manifest: join(image.dir, 'manifest.json') });
}));

after(async () => {
  await cloud.cleanup();
});

test('an arm64 VM boots through UEFI, is configured by cloud-init and answers SSH, then is deleted', () => cloud.explain(async () => {
  assert.equal(cloud.image.architecture, 'aarch64');
  assert.equal(cloud.image.name, image.manifest.name);
  const { operation } = await cloud.createVm({
    name: 'arm-1', size: 's-1vcpu-1gb', image: cloud.image.name, user_data: installingUserData(),
  });
  const op = await cloud.finish(operation, 1500);
  cloud.note(`arm-1: ${op.status}`);
  assert.equal(op.status, 'succeeded', JSON.stringify(op));

  const vm = await cloud.vm('arm-1');
  assert.equal(vm.architecture, 'aarch64');
  assert.equal(vm.state, 'running');
  assert.equal(vm.guest_state, 'ready', JSON.stringify(vm));
  assert.equal(vm.boot, 'uefi');
  assert.ok(Number.isInteger(vm.boot_seconds) && vm.boot_seconds > 0, `boot_seconds ${vm.boot_seconds}`);
  cloud.note(`arm-1 boot_seconds ${vm.boot_seconds}`);
  const { pid } = cloud.agent.vmState(vm.id);
  const argv = processArgv(pid);
  assert.equal(argv[0], 'qemu-system-aarch64');
  assert.ok(!argv.includes('-kernel'), 'booted through the firmware');
  assert.ok(argv.some((a) => /pflash|AAVMF|edk2|QEMU_EFI/i.test(a)), `with UEFI firmware: ${argv.join(' ')}`);

  await cloud.waitSsh(vm);
  assert.equal((await cloud.sshOk(vm, 'uname -m')).trim(), 'aarch64');
  assert.equal(vm.name, 'arm-1');
  await cloud.assertConfigured(vm);
  assert.equal((await cloud.sshOk(vm, `cat ${RUNCMD_LOG}`)).trim(), 'runcmd ran');
  assert.match(await cloud.sshOk(vm, `dpkg -s ${DEB_NAME}`), /^Status: install ok installed$/m);

  const dir = cloud.agent.vmDir(vm.id);
  await cloud.remove('arm-1');
  assert.equal((await cloud.cp.get('/v1/vms/arm-1')).status, 404);
  await until('QEMU to exit', () => !alive(pid), 30000);
  assert.deepEqual(processesUsing(dir), [], 'no QEMU left');
  assert.ok(gone(dir), `${dir} is removed`);
}));
