// Snapshots through the real control plane, agent, QEMU and qemu-img, on
// the tiny test guest: disk snapshots of a running and of a stopped VM,
// one with memory, restores of each kind, deletes in the middle, and every
// refusal.  What the disk holds is checked on the qcow2 itself (qemu-io,
// qemu-img check); the e2e tier checks files inside a real Debian guest.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startControlPlane } from './lib/controlplane.mjs';
import { Agent, alive, until } from './lib/agent.mjs';
import { tinyImage } from './lib/tiny_image.mjs';
import { makeKey } from './lib/keys.mjs';

let cp, agent, vm;
before(async () => {
  const image = tinyImage('amd64');
  cp = await startControlPlane();
  agent = await new Agent(cp).start();
  await until('the host to join', async () => (await cp.get('/v1/hosts')).body.hosts.find((h) => h.state === 'up'));
  assert.equal((await cp.post('/v1/images/import', { manifest: join(image.dir, 'manifest.json') })).status, 201);
  assert.equal((await cp.post('/v1/sizes', { name: 't-1vcpu-128mb', vcpus: 1, memory_mib: 128, disk_gib: 1 })).status, 201);
  await cp.post('/v1/ssh-keys', { name: 'tester', public_key: makeKey().publicKey });
});
after(async () => {
  await agent?.cleanup();
  await cp?.cleanup();
});

async function ok(op, timeout = 300) {
  const done = await cp.finished(op, timeout);
  assert.equal(done.status, 'succeeded', JSON.stringify(done) + '\n' + agent.log.slice(-3000));
  return done;
}
async function accepted(promise) {
  const r = await promise;
  assert.equal(r.status, 202, JSON.stringify(r.body));
  return r.body;
}
const disk = () => join(agent.vmDir(vm.id), 'disk.qcow2');
const tags = () => {
  const info = JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', disk()], { encoding: 'utf8' }));
  return (info.snapshots ?? []).map((s) => s.name).sort();
};
const check = () => execFileSync('qemu-img', ['check', '-U', disk()], { encoding: 'utf8' });
// A pattern at an offset of the disk (VM stopped: nothing else has it open).
const write = (pattern, offset) => execFileSync('qemu-io', ['-f', 'qcow2', '-c', `write -P ${pattern} ${offset} 64k`, disk()]);
const holds = (pattern, offset) => {
  try {
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', `read -P ${pattern} ${offset} 64k`, disk()], { encoding: 'utf8' });
    return true;
  } catch { return false; }
};
const bootId = () => JSON.parse(readFileSync(join(agent.vmDir(vm.id), 'guest.log'), 'utf8').trim().split('\n').pop()).boot_id;
const snapshots = async () => (await cp.get(`/v1/vms/${vm.id}/snapshots`)).body.snapshots;
const action = async (type) => ok((await accepted(cp.post(`/v1/vms/${vm.id}/actions`, { type }))).operation);
const take = async (body) => {
  const r = await accepted(cp.post(`/v1/vms/${vm.id}/snapshots`, body));
  await ok(r.operation);
  return (await cp.get(`/v1/vms/${vm.id}/snapshots/${r.snapshot.id}`)).body;
};

test('a running VM: disk and memory snapshots, a live memory restore, deletes', async () => {
  const created = await accepted(cp.post('/v1/vms', { name: 'snappy', size: 't-1vcpu-128mb', image: 'tiny-amd64', ssh_keys: ['tester'] }));
  vm = created.vm;
  await ok(created.operation);

  const first = await take({ name: 'first' });
  assert.equal(first.state, 'ready', JSON.stringify(first));
  assert.equal(first.memory, false);
  assert.equal(first.vm, 'snappy');
  assert.match(first.taken_at, /^\d{4}-\d\d-\d\dT/);
  const pid = agent.vmState(vm.id).pid;
  assert.ok(alive(pid), 'a disk snapshot does not stop the VM');
  assert.equal((await cp.get(`/v1/vms/${vm.id}`)).body.state, 'running');

  const boot = bootId();
  const mem = await take({ name: 'with-memory', memory: true });
  assert.equal(mem.memory, true, JSON.stringify(mem));
  assert.ok(mem.vm_state_bytes > 0, 'the memory is in the disk');
  const third = await take({});
  assert.match(third.name, /^\d{8}-\d{6}$/, 'named after the time by default');
  assert.deepEqual(tags(), [first.id, mem.id, third.id].sort());

  // The guest reboots (a new boot), then the memory snapshot brings back
  // the boot it was in: same QEMU, same boot id, no new boot.
  await action('reboot');
  const rebooted = bootId();
  assert.notEqual(rebooted, boot);
  const pidNow = agent.vmState(vm.id).pid;
  const r = await accepted(cp.post(`/v1/vms/${vm.id}/snapshots/with-memory/restore`, { safety_snapshot: false }));
  assert.equal(r.safety_snapshot, undefined);
  await ok(r.operation);
  assert.equal(agent.vmState(vm.id).pid, pidNow, 'restored live, in the same QEMU');
  assert.ok(alive(pidNow));
  assert.equal((await cp.get(`/v1/vms/${vm.id}`)).body.state, 'running');
  assert.doesNotMatch(agent.log, /restoring snapshot \S+ \(disk\)/);
  assert.match(agent.log, /restoring snapshot \S+ \(memory and disk, live\)/);

  // Deleting the one in the middle leaves the others whole.
  const d = await accepted(cp.del(`/v1/vms/${vm.id}/snapshots/with-memory`));
  await ok(d.operation);
  assert.deepEqual(tags(), [first.id, third.id].sort());
  assert.deepEqual((await snapshots()).map((s) => s.name), ['first', third.name]);
  assert.equal((await cp.get(`/v1/vms/${vm.id}/snapshots/with-memory`)).status, 404);
  assert.match(check(), /No errors were found/);
});

test('a stopped VM: restore reverts the disk exactly, with a safety snapshot', async () => {
  await action('stop');
  write('0x11', '1M');
  const before = await take({ name: 'before' });
  assert.equal(before.memory, false);
  write('0x22', '1M');
  write('0x33', '2M');
  const r = await accepted(cp.post(`/v1/vms/${vm.id}/snapshots/before/restore`, {}));
  assert.match(r.safety_snapshot.name, /^before-restore-/);
  await ok(r.operation);
  assert.ok(holds('0x11', '1M'), 'what was there at the snapshot is back');
  assert.ok(!holds('0x33', '2M'), 'what was written after it is gone');
  assert.equal((await cp.get(`/v1/vms/${vm.id}`)).body.state, 'stopped', 'a stopped VM stays stopped');
  // The safety snapshot kept the state the restore discarded.
  const safety = (await snapshots()).find((s) => s.id === r.safety_snapshot.id);
  assert.equal(safety.state, 'ready');
  const back = await accepted(cp.post(`/v1/vms/${vm.id}/snapshots/${safety.id}/restore`, { safety_snapshot: false }));
  await ok(back.operation);
  assert.ok(holds('0x22', '1M') && holds('0x33', '2M'), 'the safety snapshot restores the discarded state');
  assert.match(check(), /No errors were found/);
});

test('a running VM restored from a disk snapshot restarts on the snapshot', async () => {
  write('0x44', '3M');
  const s = await take({ name: 'disk-only' });
  write('0x55', '3M');
  await action('start');
  const pid = agent.vmState(vm.id).pid;
  const boot = bootId();
  const r = await accepted(cp.post(`/v1/vms/${vm.id}/snapshots/${s.id}/restore`, {}));
  await ok(r.operation);
  const pid2 = agent.vmState(vm.id).pid;
  assert.notEqual(pid2, pid, 'QEMU was stopped for the restore and started again');
  assert.ok(!alive(pid) && alive(pid2));
  assert.notEqual(bootId(), boot, 'a new boot');
  assert.equal((await cp.get(`/v1/vms/${vm.id}`)).body.guest_state, 'ready');
  await action('stop');
  assert.ok(holds('0x44', '3M'), 'the disk is the snapshot\'s');
});

test('bad requests change nothing', async () => {
  const n = (await snapshots()).length;
  const gen = agent.vmState(vm.id).applied_generation;
  const cases = [
    [cp.post(`/v1/vms/${vm.id}/snapshots`, { name: 'x', colour: 'red' }), 400, 'colour'],
    [cp.post(`/v1/vms/${vm.id}/snapshots`, { name: 'bad name!' }), 400, 'name'],
    [cp.post(`/v1/vms/${vm.id}/snapshots`, { name: 'snap-1' }), 400, 'name'],
    [cp.post(`/v1/vms/${vm.id}/snapshots`, { memory: 'yes' }), 400, 'memory'],
    [cp.post(`/v1/vms/${vm.id}/snapshots`, { name: 'first' }), 409, 'name'],
    [cp.post(`/v1/vms/${vm.id}/snapshots`, { memory: true }), 409, 'memory'],
    [cp.post('/v1/vms/vm-0000/snapshots', {}), 404, undefined],
    [cp.post(`/v1/vms/${vm.id}/snapshots/nope/restore`, {}), 404, undefined],
    [cp.post(`/v1/vms/${vm.id}/snapshots/first/restore`, { safety_snapshot: 1 }), 400, 'safety_snapshot'],
    [cp.del(`/v1/vms/${vm.id}/snapshots/nope`), 404, undefined],
  ];
  for (const [p, status, field] of cases) {
    const r = await p;
    assert.equal(r.status, status, JSON.stringify(r.body));
    assert.ok(r.body.error.message, JSON.stringify(r.body));
    if (field) assert.equal(r.body.error.field, field, JSON.stringify(r.body));
  }
  assert.equal((await snapshots()).length, n);
  assert.equal(agent.vmState(vm.id).applied_generation, gen, 'no order was sent');

  // One operation at a time: a second change while one is in flight is refused.
  const r1 = await accepted(cp.post(`/v1/vms/${vm.id}/snapshots`, { name: 'busy-1' }));
  const r2 = await cp.post(`/v1/vms/${vm.id}/snapshots`, { name: 'busy-2' });
  assert.equal(r2.status, 409, JSON.stringify(r2.body));
  assert.equal(r2.body.error.code, 'operation_in_progress');
  await ok(r1.operation);
});

test('the events tell the story; deleting the VM deletes its snapshots', async () => {
  const ev = (await cp.get(`/v1/events?type=snapshot.state_changed&limit=1000`)).body.events;
  assert.ok(ev.some((e) => e.data.new === 'ready'), JSON.stringify(ev.slice(0, 3)));
  const del = await accepted(cp.del(`/v1/vms/${vm.id}`));
  await ok(del.operation, 120);
  const deleted = (await cp.get(`/v1/events?type=snapshot.deleted&limit=1000`)).body.events;
  assert.ok(deleted.length >= 5, `${deleted.length} snapshot.deleted events`);
  assert.equal((await cp.get(`/v1/vms/${vm.id}/snapshots`)).status, 404);
  assert.deepEqual(agent.vmIds(), []);
});
