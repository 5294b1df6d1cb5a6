// End to end on x86_64: VMs created through the REST API from the local
// Debian image boot for real under QEMU, cloud-init configures them, and we
// SSH in with the key we uploaded. Covers readiness (operations succeed
// only once cloud-init finished), user_data (runcmd, a package from
// write_files), stop/start/reboot/delete, direct kernel boot, and the two
// failures a user must be told about: a corrupt image and a failing
// cloud-init.
//
// Boots are the cost (about a minute each under TCG on two cores), so the
// two booting VMs are created together in before() and the corrupt-image
// case, which boots nothing, runs while they boot.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  Cloud, alive, debianImage, gone, processArgv, processesUsing, serveDirectory, until,
} from './lib/cloud.mjs';
import { wsConnect } from '../integration/lib/vnc_ws.mjs';
import { DEB_NAME, FAILING_USER_DATA, RUNCMD_LOG, installingUserData } from './lib/userdata.mjs';

const cloud = new Cloud();
let image; // { dir, manifest } of the local Debian image
let web, kboot; // the create answers ({ vm, operation })
let webDone, kbootDone; // their operations, ended
const seen = []; // guest_state of web-1 as it boots, in order

before(() => cloud.explain(async () => {
  image = debianImage('amd64');
  await cloud.start({ manifest: join(image.dir, 'manifest.json') });
  const sizes = (await cloud.cp.get('/v1/sizes')).body.sizes.map((s) => s.name);
  for (const s of ['s-1vcpu-1gb', 's-1vcpu-512mb']) assert.ok(sizes.includes(s), `size ${s} in ${sizes}`);
  assert.equal(cloud.image.name, image.manifest.name);
  assert.equal(cloud.image.login_user, 'debian');
  assert.ok(cloud.image.kernel && cloud.image.initrd, `the image can boot its kernel directly: ${JSON.stringify(cloud.image)}`);

  web = await cloud.createVm({
    name: 'web-1', size: 's-1vcpu-1gb', image: cloud.image.name, user_data: installingUserData(),
  });
  kboot = await cloud.createVm({
    name: 'kboot-1', size: 's-1vcpu-512mb', image: cloud.image.name, boot: 'kernel', user_data: FAILING_USER_DATA,
  });
  cloud.note('created web-1 (UEFI) and kboot-1 (direct kernel boot)');
  webDone = cloud.finish(web.operation);
  kbootDone = cloud.finish(kboot.operation);
  webDone.then(() => cloud.note('web-1 create ended'), () => {});
  kbootDone.then(() => cloud.note('kboot-1 create ended'), () => {});
  watchGuestState(web.vm.id, webDone);
}));

after(async () => {
  await cloud.cleanup();
});

// Records each change of guest_state until `done` settles.
function watchGuestState(id, done) {
  let over = false;
  done.finally(() => { over = true; }).catch(() => {});
  (async () => {
    while (!over) {
      const r = await cloud.cp.get(`/v1/vms/${id}`).catch(() => null);
      const g = r?.body?.guest_state;
      if (r?.status === 200 && seen[seen.length - 1] !== g) seen.push(g);
      await new Promise((res) => setTimeout(res, 1000));
    }
  })();
}

const bootId = (vm) => cloud.sshOk(vm, 'cat /proc/sys/kernel/random/boot_id').then((s) => s.trim());
const runcmdRuns = async (vm) => (await cloud.sshOk(vm, `cat ${RUNCMD_LOG}`)).split('\n').filter(Boolean).length;

test('an image whose bytes do not match its checksum: the create fails with checksum_mismatch, nothing boots', () => cloud.explain(async () => {
  const m = image.manifest;
  const files = await serveDirectory(image.dir);
  try {
    const wrong = `sha256:${'0'.repeat(64)}`;
    const img = await cloud.cp.post('/v1/images', {
      name: 'corrupt', os: 'debian', version: '12', architecture: m.architecture,
      url: files.url(m.file), checksum: wrong, login_user: m.login_user, boot: 'uefi',
    });
    assert.equal(img.status, 201, JSON.stringify(img.body));
    const { vm, operation } = await cloud.createVm({ name: 'doomed', size: 's-1vcpu-512mb', image: 'corrupt' });
    const op = await cloud.finish(operation, 600);
    assert.equal(op.status, 'failed', JSON.stringify(op));
    assert.equal(op.error?.code, 'checksum_mismatch', JSON.stringify(op));
    assert.ok(op.error.message.includes('0'.repeat(64)) && op.error.message.includes(m.sha256),
      `the message names the expected and the actual checksum: ${op.error.message}`);
    assert.ok(files.requests > 0, 'the agent did download the bytes');

    const after = await cloud.vm('doomed');
    assert.equal(after.state, 'error', JSON.stringify(after));
    assert.notEqual(after.guest_state, 'ready');
    const dir = cloud.agent.vmDir(vm.id);
    assert.deepEqual(processesUsing(dir), [], 'no QEMU runs for it');
    for (const f of ['disk.qcow2', 'serial.log']) assert.equal(existsSync(join(dir, f)), false, `${f} was not made`);

    await cloud.remove('doomed');
    assert.equal((await cloud.cp.get('/v1/vms/doomed')).status, 404);
    assert.ok(gone(dir), `${dir} is removed`);
  } finally {
    await files.close();
  }
}));

test('direct kernel boot, cloud-init fails: cloud_init_failed naming the module, the VM runs on and SSH works', () => cloud.explain(async () => {
  try {
    await kernelBootFailing();
  } finally {
    await cloud.discard('kboot-1'); // do not leave it eating CPU under the next tests
  }
}));

async function kernelBootFailing() {
  const op = await kbootDone;
  cloud.note(`kboot-1: ${op.status} ${JSON.stringify(op.error)}`);
  const vm = await cloud.vm('kboot-1');
  assert.equal(vm.boot, 'kernel');
  assert.equal(vm.state, 'running', JSON.stringify(vm));
  const { pid } = cloud.agent.vmState(vm.id);
  const argv = processArgv(pid);
  assert.ok(argv.includes('-kernel'), `booted its kernel directly: ${argv.join(' ')}`);
  assert.ok(!argv.some((a) => /pflash/.test(a)), 'without UEFI firmware');

  // The guest is up and reachable whatever cloud-init thinks of runcmd.
  await cloud.waitSsh(vm);
  assert.equal((await cloud.sshOk(vm, 'hostname')).trim(), 'kboot-1');
  await cloud.sshOk(vm, 'sudo -n true');
  assert.equal((await cloud.sshOk(vm, 'cat /var/tmp/cumulus-e2e-before-failure')).trim(), 'before the failure',
    'runcmd ran up to its failing command');
  const status = await cloud.ssh(vm, 'cloud-init status --wait --long', { timeoutMs: 120000 });
  assert.notEqual(status.code, 0, `cloud-init itself says it failed: ${status.stdout}`);
  assert.match(status.stdout, /status: error/, status.stdout);

  // ... and Cumulus says so, with cloud-init's reason.
  assert.equal(op.status, 'failed', JSON.stringify(op));
  assert.equal(op.error?.code, 'cloud_init_failed', JSON.stringify(op));
  assert.match(op.error.message, /scripts[_-]user/, 'the failing module is named');
  const after = await cloud.vm('kboot-1');
  assert.equal(after.state, 'running', JSON.stringify(after));
  assert.equal(after.guest_state, 'failed', JSON.stringify(after));
  assert.match(after.guest_message ?? '', /scripts[_-]user/, JSON.stringify(after));

  await cloud.remove('kboot-1');
  await until('QEMU to exit', () => !alive(pid), 30000);
  assert.ok(gone(cloud.agent.vmDir(vm.id)));
}

test('a VM from the local image: SSH with the key, hostname, cloud-init done, sudo, instance-id, user_data applied', () => cloud.explain(async () => {
  const op = await webDone;
  cloud.note(`web-1: ${op.status}`);
  assert.equal(op.status, 'succeeded', JSON.stringify(op));
  const vm = await cloud.vm('web-1');
  assert.equal(vm.state, 'running');
  assert.equal(vm.guest_state, 'ready', JSON.stringify(vm));
  assert.equal(vm.boot, 'uefi');
  assert.ok(Number.isInteger(vm.boot_seconds) && vm.boot_seconds > 0, `boot_seconds ${vm.boot_seconds}`);
  cloud.note(`web-1 boot_seconds ${vm.boot_seconds}`);
  // The poller stops when the operation ends, so it may miss 'ready' itself.
  assert.ok(seen.includes('booting') && !seen.includes('failed'),
    `guest_state was booting while the create ran: ${JSON.stringify(seen)}`);
  assert.equal(vm.ssh.user, 'debian');
  assert.equal(vm.ssh.port, vm.ssh_port);
  const argv = processArgv(cloud.agent.vmState(vm.id).pid);
  assert.ok(!argv.includes('-kernel') && argv.some((a) => /pflash/.test(a)), `booted through UEFI firmware: ${argv.join(' ')}`);

  // The operation said ready: SSH must answer now, not eventually.
  const first = await cloud.ssh(vm, 'true', { timeoutMs: 30000 });
  assert.equal(first.code, 0, `SSH right after the create succeeded: ${JSON.stringify(first)}`);
  assert.equal(vm.name, 'web-1');
  await cloud.assertConfigured(vm);
  assert.equal((await cloud.sshOk(vm, 'sudo -n id -u')).trim(), '0');

  // user_data: the runcmd ran once and installed the package from write_files.
  assert.equal(await runcmdRuns(vm), 1);
  const pkg = await cloud.sshOk(vm, `dpkg -s ${DEB_NAME}`);
  assert.match(pkg, /^Status: install ok installed$/m, pkg);
  assert.equal((await cloud.sshOk(vm, `cat /usr/share/${DEB_NAME}/hello`)).trim(), `hello from ${DEB_NAME}`);
}));

test('the serial console of the Debian guest: its log, then Enter brings the login prompt again', () => cloud.explain(async () => {
  const c = await cloud.cp.post('/v1/vms/web-1/console', { type: 'serial' });
  assert.equal(c.status, 200, JSON.stringify(c.body));
  const r = await wsConnect(c.body.url);
  assert.ok(r.ok, JSON.stringify(r));
  await r.ws.readUntil(/web-1 login: /, 30000); // getty's prompt, in the log since boot
  await new Promise((done) => setTimeout(done, 2000));
  r.ws.discard(); // the rest of the scrollback
  r.ws.send(Buffer.from('\r'));
  await r.ws.readUntil(/web-1 login: /, 30000); // agetty asks again: the key reached the guest
  r.ws.close();
  assert.ok(await r.ws.waitClosed());
}));

test('stop powers the guest off, start keeps the disk, reboot keeps key and hostname, cloud-init runs once, delete leaves nothing', () => cloud.explain(async () => {
  let vm = await cloud.vm('web-1');
  assert.equal(vm.guest_state, 'ready', 'the previous test left web-1 ready');
  const dir = cloud.agent.vmDir(vm.id);
  const token = randomBytes(8).toString('hex');
  await cloud.sshOk(vm, `echo ${token} | sudo tee /var/lib/cumulus-e2e/kept >/dev/null`);
  const boot1 = await bootId(vm);
  const pid1 = cloud.agent.vmState(vm.id).pid;

  cloud.note('web-1: stop');
  await cloud.action('web-1', 'stop');
  vm = await cloud.vm('web-1');
  assert.equal(vm.state, 'stopped');
  assert.equal(alive(pid1), false, 'QEMU is gone after the stop');
  assert.deepEqual(processesUsing(dir), []);
  assert.match(cloud.serialLog(vm.id), /reboot: Power down/, 'the guest powered itself off (not killed)');

  cloud.note('web-1: start');
  await cloud.action('web-1', 'start');
  vm = await cloud.vm('web-1');
  assert.equal(vm.state, 'running');
  assert.equal(vm.guest_state, 'ready', JSON.stringify(vm));
  await cloud.waitSsh(vm);
  const boot2 = await bootId(vm);
  assert.notEqual(boot2, boot1, 'a new boot');
  assert.equal((await cloud.sshOk(vm, 'cat /var/lib/cumulus-e2e/kept')).trim(), token, 'the file written before the stop');
  assert.equal((await cloud.sshOk(vm, 'hostname')).trim(), 'web-1');
  assert.equal((await cloud.sshOk(vm, 'cat /var/lib/cloud/data/instance-id')).trim(), vm.id);
  assert.equal(await runcmdRuns(vm), 1, 'runcmd (per instance) did not run again after stop/start');

  cloud.note('web-1: reboot');
  await cloud.action('web-1', 'reboot');
  vm = await cloud.vm('web-1');
  assert.equal(vm.state, 'running');
  assert.equal(vm.guest_state, 'ready', JSON.stringify(vm));
  await cloud.waitSsh(vm); // logging in with the key is itself the check that it survived
  const boot3 = await bootId(vm);
  assert.notEqual(boot3, boot2, 'the guest really rebooted');
  assert.equal((await cloud.sshOk(vm, 'hostname')).trim(), 'web-1');
  assert.equal(await runcmdRuns(vm), 1, 'runcmd did not run again after the reboot');
  assert.equal((await cloud.sshOk(vm, 'cat /var/lib/cumulus-e2e/kept')).trim(), token);
  await cloud.sshOk(vm, 'sudo -n true');
  const pid = cloud.agent.vmState(vm.id).pid;

  cloud.note('web-1: delete');
  await cloud.remove('web-1');
  assert.equal((await cloud.cp.get('/v1/vms/web-1')).status, 404);
  await until('QEMU to exit', () => !alive(pid), 30000);
  assert.deepEqual(processesUsing(dir), [], 'no QEMU left');
  assert.ok(gone(dir), `${dir} is removed`);
}));
