// The control plane and a real agent on loopback: a VM created with curl
// really boots under QEMU with the argv we expect, stops, starts and is
// deleted leaving nothing behind; an agent killed with SIGKILL re-adopts
// its running VMs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { startControlPlane } from './lib/controlplane.mjs';
import { Agent, processArgv, alive, until } from './lib/agent.mjs';
import { serveDirectory } from './lib/imageserver.mjs';
import { debianImage } from './lib/debian_image.mjs';
import { makeKey } from './lib/keys.mjs';

let cp, agent, images, image;
before(async () => {
  image = debianImage('amd64');
  images = await serveDirectory(image.dir);
  cp = await startControlPlane();
  agent = await new Agent(cp).start();
  await until('the host to join', async () => (await cp.get('/v1/hosts')).body.hosts.find((h) => h.state === 'up'));
  const m = image.manifest;
  const img = await cp.post('/v1/images', {
    name: 'debian-local', os: 'debian', version: '12', architecture: m.architecture,
    url: images.url(m.file), checksum: `sha256:${m.sha256}`, login_user: m.login_user, boot: 'uefi',
  });
  assert.equal(img.status, 201, JSON.stringify(img.body));
  await cp.post('/v1/ssh-keys', { name: 'tester', public_key: makeKey().publicKey });
});
after(async () => {
  await agent?.cleanup();
  await cp?.cleanup();
  await images?.close();
});

// curl, as a user would type it (argv, no shell).
function curl(method, path, body) {
  const args = ['-sS', '-X', method, '-H', `Authorization: Bearer ${cp.token}`];
  if (body) args.push('-d', JSON.stringify(body));
  return JSON.parse(execFileSync('curl', [...args, cp.base + path], { encoding: 'utf8' }));
}

// The operation, which must have succeeded (else the agent's log says why).
async function waitOp(op, timeout = 600) {
  const done = await cp.finished(op, timeout);
  assert.equal(done.status, 'succeeded', JSON.stringify(done) + '\n' + agent.log.slice(-3000));
  return done;
}

async function action(name, type) {
  const r = await cp.post(`/v1/vms/${name}/actions`, { type });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  return waitOp(r.body.operation);
}

test('the host joined with its facts', async () => {
  const [h] = (await cp.get('/v1/hosts')).body.hosts;
  assert.equal(h.name, 'host-1');
  assert.equal(h.architecture, 'x86_64');
  assert.ok(h.accelerators.includes('tcg'));
  assert.ok(h.vcpus >= 1 && h.memory_mib > 0 && h.disk_gib > 0);
  assert.match(h.qemu_version, /^\d+\.\d+/);
});

test('a VM created with curl boots, stops, starts and is deleted without a trace', async () => {
  const created = curl('POST', '/v1/vms', { name: 'web-1', size: 's-1vcpu-1gb', image: 'debian-local', ssh_keys: ['tester'] });
  assert.equal(created.operation.status, 'pending', JSON.stringify(created));
  const id = created.vm.id;
  const op = await waitOp(created.operation);
  assert.equal(op.progress, 100);

  const vm = (await cp.get(`/v1/vms/${id}`)).body;
  assert.equal(vm.state, 'running');
  // The create operation ended when cloud-init in the guest had finished.
  assert.equal(vm.guest_state, 'ready', JSON.stringify(vm));
  assert.ok(vm.boot_seconds > 0 && vm.boot_seconds < 600, JSON.stringify(vm));
  assert.match(op.message, /^ready: cloud-init finished \d+ s after boot$/);
  assert.equal(vm.host, 'host-1');
  assert.ok(vm.ssh_port > 0);
  assert.equal(vm.ssh.command, `ssh -p ${vm.ssh_port} debian@127.0.0.1`);

  const dir = agent.vmDir(id);
  const { pid } = agent.vmState(id);
  const argv = processArgv(pid);
  assert.equal(argv[0], 'qemu-system-x86_64');
  for (const want of ['-nodefaults', '-no-user-config', '-daemonize']) assert.ok(argv.includes(want), want);
  const [host] = (await cp.get('/v1/hosts')).body.hosts;
  assert.equal(argv[argv.indexOf('-accel') + 1].split(',')[0], host.accelerators.includes('kvm') ? 'kvm' : 'tcg');
  assert.equal(argv[argv.indexOf('-m') + 1].split(',')[0].replace(/M$/, ''), '1024');
  assert.ok(argv.some((a) => a.includes(join(dir, 'disk.qcow2'))), 'boots its overlay');
  assert.ok(argv.some((a) => a.includes(join(dir, 'seed.iso'))), 'with its seed');
  assert.ok(argv.some((a) => a.includes(`tcp:127.0.0.1:${vm.ssh_port}-:22`)), 'SSH forwarded');

  // The overlay is backed by the cached image, the seed is a cidata ISO.
  const info = JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', join(dir, 'disk.qcow2')], { encoding: 'utf8' }));
  assert.equal(info['virtual-size'], 25 * 1024 ** 3);
  assert.match(info['backing-filename'], /images/);
  assert.match(execFileSync('blkid', ['-o', 'value', '-s', 'LABEL', join(dir, 'seed.iso')], { encoding: 'utf8' }), /^cidata/);

  // A real guest boots: the kernel and then the login prompt on the serial console.
  await until('the guest to print a login prompt', () => {
    try { return /login:/.test(readFileSync(join(dir, 'serial.log'), 'utf8')); } catch { return false; }
  }, 300000, 1000);
  assert.match(readFileSync(join(dir, 'serial.log'), 'utf8'), /Linux version/);

  await action('web-1', 'stop');
  assert.equal((await cp.get('/v1/vms/web-1')).body.state, 'stopped');
  assert.equal(alive(pid), false, 'QEMU is gone after a stop');

  await action('web-1', 'start');
  const pid2 = agent.vmState(id).pid;
  assert.ok(alive(pid2));
  assert.equal((await cp.get('/v1/vms/web-1')).body.ssh_port, vm.ssh_port, 'the SSH port is kept');

  // Reboot: the guest powers off and a new QEMU boots it; the operation
  // ends when cloud-init has finished again.  Twice in a row: the second
  // boot must be as good as the first.
  const kernels = () => readFileSync(join(dir, 'serial.log'), 'utf8').split('Linux version').length - 1;
  for (let round = 1; round <= 2; round++) {
    const before = agent.vmState(id).pid;
    const op = await action('web-1', 'reboot');
    assert.match(op.message, /^ready/);
    const after = agent.vmState(id).pid;
    assert.notEqual(after, before, `reboot ${round} runs a new QEMU`);
    assert.equal(alive(before), false);
    assert.equal(kernels(), 1, 'serial.log holds this boot only');
    const rebooted = (await cp.get('/v1/vms/web-1')).body;
    assert.equal(rebooted.guest_state, 'ready');
    assert.equal(rebooted.ssh_port, vm.ssh_port, 'the SSH port is kept');
  }
  const pid3 = agent.vmState(id).pid;

  const del = await cp.del('/v1/vms/web-1');
  assert.equal(del.status, 202);
  await waitOp(del.body.operation, 120);
  assert.equal((await cp.get('/v1/vms/web-1')).status, 404);
  assert.equal(alive(pid3), false);
  assert.equal(existsSync(dir), false, 'disk, seed, sockets and logs are gone');
  assert.ok(existsSync(join(agent.dataDir, 'images')), 'the image cache stays');
});

test('an agent killed with SIGKILL re-adopts its running VMs', async () => {
  const names = ['keep-1', 'keep-2'];
  const ops = [];
  for (const name of names) {
    const r = await cp.post('/v1/vms', { name, size: 's-1vcpu-512mb', image: 'debian-local', ssh_keys: ['tester'] });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    ops.push(r.body.operation);
  }
  for (const op of ops) await waitOp(op);
  const ids = [];
  for (const name of names) ids.push((await cp.get(`/v1/vms/${name}`)).body.id);
  const pids = ids.map((id) => agent.vmState(id).pid);

  await agent.stop('SIGKILL');
  for (const pid of pids) assert.ok(alive(pid), 'QEMU outlives the agent');
  await agent.start();
  await new Promise((r) => setTimeout(r, 3000));
  for (const [i, id] of ids.entries()) {
    assert.equal(agent.vmState(id).pid, pids[i], 'the same QEMU, not a new one');
    assert.ok(alive(pids[i]));
    assert.equal(await qmpStatus(join(agent.vmDir(id), 'qmp.sock')), 'running');
    assert.equal((await cp.get(`/v1/vms/${id}`)).body.state, 'running');
  }
  assert.match(agent.log, /re-adopted QEMU pid/);
  for (const name of names) await waitOp((await cp.del(`/v1/vms/${name}`)).body.operation, 120);
  for (const pid of pids) assert.equal(alive(pid), false);
});

// Asks QEMU over its QMP socket: greeting, capabilities, query-status.
function qmpStatus(path) {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    let buf = '';
    const timer = setTimeout(() => { sock.destroy(); reject(new Error('QMP timeout')); }, 10000);
    sock.on('data', (d) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop();
      for (const line of lines) {
        const msg = JSON.parse(line);
        if (msg.QMP) sock.write('{"execute":"qmp_capabilities","id":1}\n');
        else if (msg.id === 1) sock.write('{"execute":"query-status","id":2}\n');
        else if (msg.id === 2) { clearTimeout(timer); sock.end(); resolve(msg.return.status); }
      }
    });
    sock.on('error', reject);
  });
}

test('a bad order fails its operation with the reason and leaves no half-made VM', async () => {
  const m = image.manifest;
  const bad = await cp.post('/v1/images', {
    name: 'corrupt', os: 'debian', version: '12', architecture: m.architecture,
    url: images.url(m.file), checksum: `sha256:${'0'.repeat(64)}`, login_user: 'debian',
  });
  assert.equal(bad.status, 201);
  const r = await cp.post('/v1/vms', { name: 'doomed', size: 's-1vcpu-512mb', image: 'corrupt', ssh_keys: ['tester'] });
  assert.equal(r.status, 202);
  let op;
  do {
    op = (await cp.get(`/v1/operations/${r.body.operation.id}/wait?timeout=60`)).body;
  } while (!['succeeded', 'failed'].includes(op.status));
  assert.equal(op.status, 'failed');
  assert.match(op.error.message, /checksum mismatch: expected sha256:0{64}, got sha256:[0-9a-f]{64}/);
  const vm = (await cp.get('/v1/vms/doomed')).body;
  assert.equal(vm.state, 'error');
  const dir = agent.vmDir(vm.id);
  for (const f of ['disk.qcow2', 'seed.iso', 'qemu.pid']) assert.equal(existsSync(join(dir, f)), false, f);
  const cached = execFileSync('ls', [join(agent.dataDir, 'images')], { encoding: 'utf8' });
  assert.doesNotMatch(cached, /\.part/, 'no partial download left');
  await waitOp((await cp.del('/v1/vms/doomed')).body.operation, 60);
  assert.equal(existsSync(dir), false);
});
