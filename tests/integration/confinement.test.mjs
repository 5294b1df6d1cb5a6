// QEMU confinement: an agent running as root starts each VM's QEMU with
// -runas, so the guest runs under a uid and gid of its own (vm-uid-range),
// under seccomp (-sandbox) and with no_new_privs.  That uid reaches no
// file of any VM by name, nor the image cache, and cannot signal another
// VM's QEMU; the VM still works (screenshot, stop, start), keeps its uid
// across a restart, and a bad vm-uid-range stops the agent at start.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startControlPlane } from './lib/controlplane.mjs';
import { Agent, until } from './lib/agent.mjs';
import { addTinyImage } from './lib/tiny_image.mjs';

const BIN_DIR = process.env.CUMULUS_BIN_DIR ?? new URL('../../build/bin', import.meta.url).pathname;
const UID_MIN = 1879048192;
const UID_MAX = 1879113727;
const root = process.getuid() === 0;

let cp, agent;
const vms = {};

async function createVm(name) {
  const r = await cp.post('/v1/vms', { name, size: 't-128mb', image: 'tiny-amd64', ssh_keys: ['tester'] });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  return r.body.operation;
}

async function action(name, type) {
  const r = await cp.post(`/v1/vms/${name}/actions`, { type });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  const done = await cp.finished(r.body.operation, 300);
  assert.equal(done.status, 'succeeded', JSON.stringify(done) + '\n' + agent.log.slice(-3000));
}

// The Uid/Gid/Groups/NoNewPrivs/Seccomp lines of /proc/PID/status.
function procStatus(pid) {
  const out = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const m = /^(Uid|Gid|Groups|NoNewPrivs|Seccomp):\s*(.*)$/.exec(line);
    if (m) out[m[1]] = m[2].trim().split(/\s+/).filter(Boolean).map(Number);
  }
  return out;
}

const qemuPid = (id) => Number(readFileSync(join(agent.vmDir(id), 'qemu.pid'), 'utf8').trim());
// Runs argv as uid:gid; its exit status and stderr.
const runAs = (uid, argv) => spawnSync(argv[0], argv.slice(1), { uid, gid: uid, encoding: 'utf8' });

before(async () => {
  if (!root) return;
  cp = await startControlPlane();
  agent = await new Agent(cp).start();
  await until('the host to join', async () => (await cp.get('/v1/hosts')).body.hosts.find((h) => h.state === 'up'));
  await addTinyImage(cp);
  const ops = [await createVm('conf-1'), await createVm('conf-2')];
  for (const op of ops) {
    const done = await cp.finished(op, 600);
    assert.equal(done.status, 'succeeded', JSON.stringify(done) + '\n' + agent.log.slice(-3000));
  }
  for (const name of ['conf-1', 'conf-2']) vms[name] = (await cp.get(`/v1/vms/${name}`)).body;
});

after(async () => {
  await agent?.cleanup();
  await cp?.cleanup();
});

test('each VM\'s QEMU runs as a uid and gid of its own, sandboxed, with no_new_privs', { skip: !root && 'needs root' }, () => {
  const uids = [];
  for (const vm of Object.values(vms)) {
    const st = procStatus(qemuPid(vm.id));
    const uid = st.Uid[0];
    assert.ok(uid >= UID_MIN && uid <= UID_MAX, `uid ${uid} in vm-uid-range`);
    assert.deepEqual(st.Uid, [uid, uid, uid, uid], 'real, effective, saved and fs uid');
    assert.deepEqual(st.Gid, [uid, uid, uid, uid], 'gids');
    assert.deepEqual(st.Groups, [uid], 'no supplementary group of root\'s');
    assert.deepEqual(st.NoNewPrivs, [1]);
    assert.deepEqual(st.Seccomp, [2], 'a seccomp filter (-sandbox on)');
    const state = JSON.parse(readFileSync(join(agent.vmDir(vm.id), 'state.json'), 'utf8'));
    assert.equal(state.uid, uid, 'state.json keeps the uid');
    uids.push(uid);
  }
  assert.notEqual(uids[0], uids[1], 'two VMs, two uids');
  assert.match(agent.log, /each VM's QEMU runs as a uid of its own in 1879048192-1879113727/);
});

test('a VM\'s uid reads no VM file by name, not even its own, nor the image cache, and cannot signal another VM', { skip: !root && 'needs root' }, () => {
  const [a, b] = Object.values(vms);
  const uidA = procStatus(qemuPid(a.id)).Uid[0];
  const images = join(agent.dataDir, 'images');
  const cached = readdirSync(images).map((f) => join(images, f));
  assert.ok(cached.length > 0, 'the image cache has files');
  const targets = [join(agent.vmDir(b.id), 'disk.qcow2'), join(agent.vmDir(b.id), 'seed.iso'),
    join(agent.vmDir(b.id), 'serial.log'), join(agent.vmDir(a.id), 'disk.qcow2'), ...cached];
  for (const file of targets) {
    assert.equal(spawnSync('head', ['-c', '1', file]).status, 0, `root can read ${file}`);
    const r = runAs(uidA, ['head', '-c', '1', file]);
    assert.notEqual(r.status, 0, `uid ${uidA} read ${file}`);
    assert.match(r.stderr, /Permission denied/);
  }
  const kill = runAs(uidA, ['kill', '-0', String(qemuPid(b.id))]);
  assert.notEqual(kill.status, 0, 'signalled the other VM\'s QEMU');
  assert.match(kill.stderr, /not permitted/);
});

test('a confined VM still works: screenshot, stop and start, with the same uid', { skip: !root && 'needs root' }, async () => {
  const vm = vms['conf-1'];
  const before = procStatus(qemuPid(vm.id)).Uid[0];
  const shot = await fetch(`${cp.base}/v1/vms/${vm.name}/screenshot?size=64`, { headers: { Authorization: `Bearer ${cp.token}` } });
  assert.equal(shot.status, 200);
  assert.equal(shot.headers.get('content-type'), 'image/png');
  await action(vm.name, 'stop');
  await action(vm.name, 'start');
  assert.equal((await cp.get(`/v1/vms/${vm.name}`)).body.state, 'running');
  assert.equal(procStatus(qemuPid(vm.id)).Uid[0], before, 'the uid is kept across a restart');
});

test('a bad vm-uid-range stops the agent at start with the reason', () => {
  for (const range of ['5-3', '0-10', '1000-', 'all', '2000-4294967295']) {
    const r = spawnSync(join(BIN_DIR, 'cumulus-agent'), ['--vm-uid-range', range], { encoding: 'utf8' });
    assert.equal(r.status, 1, `${range}: ${r.stderr}`);
    assert.ok(r.stderr.includes(`vm-uid-range must be off or look like 1879048192-1879113727`), r.stderr);
  }
});
