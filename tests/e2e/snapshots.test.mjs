// Snapshots of a real Debian guest, seen from inside it over SSH: a disk
// snapshot of the running VM, files written after it, a restore (the VM
// restarts on the snapshot's disk: the file before is there, the one after
// is gone, and the safety snapshot taken first still has it), a snapshot
// with memory restored live (the same boot resumes: same boot_id, the
// process started before it is running again, the file written after it
// is gone), and deleting snapshots in the middle (every other one stays
// valid: qemu-img check is clean and the remaining ones still restore).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Cloud, debianImage } from './lib/cloud.mjs';

const cloud = new Cloud();
let vm;

before(() => cloud.explain(async () => {
  const image = debianImage('amd64');
  await cloud.start({ manifest: join(image.dir, 'manifest.json') });
  const created = await cloud.createVm({ name: 'snap-e2e', size: 's-1vcpu-1gb', image: cloud.image.name });
  await cloud.succeed(created.operation);
  vm = await cloud.vm('snap-e2e');
  await cloud.waitSsh(vm);
  cloud.note('VM ready');
}));
after(() => cloud.cleanup());

const disk = () => join(cloud.agent.vmDir(vm.id), 'disk.qcow2');
const qemuCheck = () => execFileSync('qemu-img', ['check', '-U', disk()], { encoding: 'utf8' });
async function take(body) {
  const r = await cloud.cp.post(`/v1/vms/${vm.id}/snapshots`, body);
  assert.equal(r.status, 202, JSON.stringify(r.body));
  await cloud.succeed(r.body.operation, 600);
  const s = (await cloud.cp.get(`/v1/vms/${vm.id}/snapshots/${r.body.snapshot.id}`)).body;
  assert.equal(s.state, 'ready', JSON.stringify(s));
  return s;
}
async function restore(snap, body = {}) {
  const r = await cloud.cp.post(`/v1/vms/${vm.id}/snapshots/${snap.id}/restore`, body);
  assert.equal(r.status, 202, JSON.stringify(r.body));
  await cloud.succeed(r.body.operation, 900);
  vm = await cloud.vm(vm.id);
  await cloud.waitSsh(vm);
  return r.body;
}
// Written and flushed to the disk, as a user's work would be.
const write = (path, text) => cloud.sshOk(vm, `echo ${text} > ${path} && sync`);
const exists = async (path) => (await cloud.ssh(vm, `test -e ${path}`)).code === 0;
const bootId = async () => (await cloud.sshOk(vm, 'cat /proc/sys/kernel/random/boot_id')).trim();

test('a disk snapshot of the running VM restores exactly, with a safety snapshot', () => cloud.explain(async () => {
  await write('/home/debian/before.txt', 'kept');
  const boot = await bootId();
  const t0 = Date.now();
  const snap = await take({ name: 'clean' });
  cloud.note(`disk snapshot of a running VM: ${Date.now() - t0} ms through the API`);
  assert.equal(snap.memory, false);
  assert.equal(await bootId(), boot, 'the guest kept running through the snapshot');
  await write('/home/debian/after.txt', 'lost');

  const r = await restore(snap);
  cloud.note('restored the disk snapshot');
  assert.match(r.safety_snapshot.name, /^before-restore-/);
  assert.notEqual(await bootId(), boot, 'a disk restore restarts the VM');
  assert.equal((await cloud.sshOk(vm, 'cat /home/debian/before.txt')).trim(), 'kept');
  assert.equal(await exists('/home/debian/after.txt'), false, 'written after the snapshot: gone');

  // The safety snapshot holds what the restore discarded.
  const back = await restore(r.safety_snapshot, { safety_snapshot: false });
  assert.equal(back.safety_snapshot, undefined);
  assert.equal((await cloud.sshOk(vm, 'cat /home/debian/after.txt')).trim(), 'lost');
}));

test('a snapshot with memory resumes the guest where it was', () => cloud.explain(async () => {
  // A process that counts, started before the snapshot.
  await cloud.sshOk(vm, `nohup sh -c 'i=0; while :; do i=$((i+1)); echo $i > /tmp/counter; sleep 1; done' >/dev/null 2>&1 &`);
  await new Promise((res) => setTimeout(res, 3000));
  const boot = await bootId();
  const snap = await take({ name: 'live', memory: true });
  assert.equal(snap.memory, true);
  assert.ok(snap.vm_state_bytes > 1 << 20, `vm_state_bytes ${snap.vm_state_bytes}`);
  await write('/home/debian/later.txt', 'gone');
  await cloud.sshOk(vm, 'pkill -f "[/]tmp/counter" || true');

  const pid = cloud.agent.vmState(vm.id).pid;
  await restore(snap, { safety_snapshot: false });
  assert.equal(cloud.agent.vmState(vm.id).pid, pid, 'the same QEMU: restored live');
  assert.equal(await bootId(), boot, 'the same boot resumed');
  assert.equal(await exists('/home/debian/later.txt'), false, 'written after the snapshot: gone');
  const c1 = Number((await cloud.sshOk(vm, 'cat /tmp/counter')).trim());
  assert.ok(c1 > 0, `the counter counts (${c1})`);
  await new Promise((res) => setTimeout(res, 2500));
  const c2 = Number((await cloud.sshOk(vm, 'cat /tmp/counter')).trim());
  assert.ok(c2 > c1, `the process from before the snapshot runs again (${c1} -> ${c2})`);
}));

test('deleting snapshots in the middle keeps every other one valid', () => cloud.explain(async () => {
  const all = (await cloud.cp.get(`/v1/vms/${vm.id}/snapshots`)).body.snapshots;
  assert.deepEqual(all.map((s) => s.name).slice(0, 1), ['clean']);
  const middle = all.filter((s) => s.name !== 'clean' && s.name !== all[all.length - 1].name);
  assert.ok(middle.length >= 1, JSON.stringify(all.map((s) => s.name)));
  for (const s of middle) {
    const r = await cloud.cp.del(`/v1/vms/${vm.id}/snapshots/${s.id}`);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    await cloud.succeed(r.body.operation, 300);
  }
  const left = (await cloud.cp.get(`/v1/vms/${vm.id}/snapshots`)).body.snapshots;
  assert.equal(left.length, all.length - middle.length);
  assert.match(qemuCheck(), /No errors were found/);
  const info = JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', '--backing-chain', disk()], { encoding: 'utf8' }));
  assert.equal(info.length, 2, 'the backing chain stays overlay -> base image');
  // The first one, older than everything deleted, still restores.
  await restore(left[0], { safety_snapshot: false });
  assert.equal((await cloud.sshOk(vm, 'cat /home/debian/before.txt')).trim(), 'kept');
  assert.equal(await exists('/home/debian/after.txt'), false);
}));

test('a snapshot made into an image boots new VMs with the snapshot\'s disk', () => cloud.explain(async () => {
  await write('/home/debian/golden.txt', 'baked-in');
  const snap = await take({ name: 'golden' });
  const r = await cloud.cp.post(`/v1/snapshots/${snap.id}/image`, { name: 'golden-image' });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  assert.equal(r.body.image.state, 'creating');
  const early = await cloud.cp.post('/v1/vms', { name: 'too-early', size: 's-1vcpu-1gb', image: 'golden-image', ssh_keys: ['tester'] });
  assert.equal(early.status, 409, `a VM from an image not ready yet is refused: ${JSON.stringify(early.body)}`);
  await cloud.succeed(r.body.operation, 900);
  const img = (await cloud.cp.get('/v1/images/golden-image')).body;
  assert.equal(img.state, 'ready', JSON.stringify(img));
  assert.equal(img.origin, 'snapshot');
  assert.match(img.checksum, /^sha256:[0-9a-f]{64}$/);
  // Flattened: a standalone qcow2 that depends on no backing file.
  const file = join(cloud.cp.dataDir, 'images', img.id, 'disk.qcow2');
  const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', file], { encoding: 'utf8' }));
  assert.equal(info['backing-filename'], undefined, JSON.stringify(info));
  assert.equal((info.snapshots ?? []).length, 0, 'no snapshots inside the image');
  assert.deepEqual(cloud.agent.vmIds().length, 1, 'the export file went with the order');
  cloud.note('image from the snapshot ready');

  const clone = await cloud.createVm({ name: 'clone-1', size: 's-1vcpu-1gb', image: 'golden-image' });
  await cloud.succeed(clone.operation);
  const c = await cloud.vm('clone-1');
  await cloud.waitSsh(c);
  assert.equal((await cloud.sshOk(c, 'cat /home/debian/golden.txt')).trim(), 'baked-in');
  assert.equal((await cloud.sshOk(c, 'hostname')).trim(), 'clone-1', 'cloud-init ran again for the new instance');
  assert.equal((await cloud.sshOk(c, 'cat /var/lib/cloud/data/instance-id')).trim(), c.id);
  const machineId = (path) => cloud.sshOk(path.vm, `cat ${path.file}`).then((t) => t.trim());
  const mine = await machineId({ vm, file: '/etc/machine-id' });
  const theirs = await machineId({ vm: c, file: '/etc/machine-id' });
  assert.match(theirs, /^[0-9a-f]{32}$/);
  assert.notEqual(theirs, mine, 'a clone has a machine-id of its own');
  await cloud.remove('clone-1');
}));
