// Bakes without a guest: every bad field of POST /v1/images/bake is
// refused with a 400 naming it and leaves nothing behind; a good one
// answers 202 with the image ('creating', origin 'bake'), its VM and an
// image.bake operation, and the VM's order carries cloud-init's
// power_state with the bake reporter.  The host is joined through the API
// and answered by a stand-in agent (an HTTP server that takes every order
// and serves the exported disk), and its reports are sent by the test as
// the agent would send them, so that every way a bake ends runs the real
// control plane: the guest's last word then the power-off (the image is
// exported, fetched, checked and ready), cloud-init failing (its status
// and log in the operation's error), a power-off without a word, the
// deadline (a bake with the shortest timeout, 60 s, started first and
// checked last), the host's error, and a cancel by deleting the image.  In
// every case the VM is deleted.  tests/e2e/bake.test.mjs bakes a real
// Debian guest.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createHash } from 'node:crypto';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { startControlPlane } from './lib/controlplane.mjs';
import { makeKey } from './lib/keys.mjs';
import { until } from './lib/agent.mjs';

let cp, agent, host, agentToken, slow, slowAt;
const orders = new Map(); // VM id -> the last order (PUT body), or 'deleted'
const exported = Buffer.from('a flattened qcow2 would be here\n'.repeat(1000));
const exportedSum = createHash('sha256').update(exported).digest('hex');

// Takes every order, forgets a VM on DELETE, serves any export with the
// host's order token.
async function standInAgent() {
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const id = req.url.split('/')[3];
      if (req.method === 'PUT') {
        orders.set(id, JSON.parse(Buffer.concat(chunks).toString()));
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
      } else if (req.method === 'DELETE') {
        orders.set(id, 'deleted');
        res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"error": {"code": "not_found", "message": "gone"}}');
      } else if (req.method === 'GET' && req.url.includes('/exports/') &&
                 req.headers.authorization === 'Bearer cuord_stand-in') {
        res.writeHead(200, { 'Content-Type': 'application/octet-stream' }).end(exported);
      } else {
        res.writeHead(404).end();
      }
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

before(async () => {
  cp = await startControlPlane({ extraArgs: ['--host-timeout', '3600'] });
  agent = await standInAgent();
  const joinToken = readFileSync(join(cp.dataDir, 'join-token'), 'utf8').trim();
  const r = await cp.post('/v1/hosts/join', {
    name: 'host-a', address: '127.0.0.1', api_url: `http://127.0.0.1:${agent.address().port}`,
    architecture: 'x86_64', accelerators: ['tcg'], vcpus: 8, memory_mib: 16384, disk_gib: 500,
    qemu_version: '7.2.0', order_token: 'cuord_stand-in',
  }, { token: joinToken });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  ({ host, agent_token: agentToken } = r.body);
  assert.equal((await cp.post('/v1/ssh-keys', { name: 'alice', public_key: makeKey().publicKey })).status, 201);
  slowAt = Date.now();
  const b = await cp.post('/v1/images/bake', good({ name: 'slow', timeout: 60 }));
  assert.equal(b.status, 202, JSON.stringify(b.body));
  slow = b.body;
});
after(async () => {
  await cp?.cleanup();
  agent?.close();
});

const USER_DATA = '#cloud-config\nruncmd:\n  - [sh, -c, "echo baked > /etc/baked"]\n';
const good = (extra = {}) => ({ name: 'golden', image: 'debian-12-amd64', size: 's-1vcpu-1gb', user_data: USER_DATA, ...extra });
const counts = async () => ({
  images: (await cp.get('/v1/images?limit=1000')).body.images.length,
  vms: (await cp.get('/v1/vms?limit=1000')).body.vms.length,
  ops: (await cp.get('/v1/operations?limit=1000')).body.operations.length,
});

// One VM's report, as the agent sends it.
function report(vmId, fields = {}) {
  const gen = orders.get(vmId)?.generation ?? 1;
  return {
    id: vmId, state: 'running', accepted_generation: gen, applied_generation: gen, ssh_port: 2222,
    progress: 100, message: 'QEMU is running', error: null,
    guest: { state: 'booting', message: 'booting: waiting for cloud-init (12 s)', boot_seconds: null, timed_out: false },
    ...fields,
  };
}
async function heartbeat(vms) {
  const r = await cp.post(`/v1/hosts/${host.id}/heartbeat`,
    { free_vcpus: 8, free_memory_mib: 16384, free_disk_gib: 500, vms }, { token: agentToken });
  assert.equal(r.status, 200, JSON.stringify(r.body));
}
const op = async (id) => (await cp.get(`/v1/operations/${id}`)).body;
const image = async (id) => (await cp.get(`/v1/images/${id}`)).body;

async function bake(name) {
  const r = await cp.post('/v1/images/bake', good({ name, ssh_keys: ['alice'], timeout: 600 }));
  assert.equal(r.status, 202, JSON.stringify(r.body));
  await until('the order', () => orders.has(r.body.vm.id));
  return r.body;
}

// The VM is asked to go, its host forgets it, and then it is gone.
async function assertVmGone(vmId) {
  await until('the delete order', async () => {
    await heartbeat([report(vmId, { state: 'stopped', guest: null })]);
    return orders.get(vmId) === 'deleted';
  });
  await heartbeat([]);
  await until('the VM to be gone', async () => (await cp.get(`/v1/vms/${vmId}`)).status === 404);
}

test('every bad field is refused with a 400 naming it, and nothing is left behind', async () => {
  const before = await counts();
  const cases = [
    [{ image: 'debian-12-amd64', size: 's-1vcpu-1gb', user_data: USER_DATA }, 'name', /required/],
    [good({ name: "Not_A_Label" }), "name", /not a valid name/],
    [good({ image: undefined }), 'image', /required/],
    [good({ image: 'no-such-image' }), 'image', /no image 'no-such-image'/],
    [good({ size: 's-99vcpu' }), 'size', /no size 's-99vcpu'/],
    [good({ user_data: undefined }), 'user_data', /required/],
    [good({ user_data: ' \n' }), 'user_data', /what the bake runs/],
    [good({ user_data: '#cloud-config\nruncmd: [unclosed\n' }), 'user_data', /line/],
    [good({ user_data: '#include http://x\n' }), 'user_data', /#include/],
    [good({ timeout: 0 }), 'timeout', /from 60 to 86400/],
    [good({ timeout: 86401 }), 'timeout', /from 60 to 86400/],
    [good({ timeout: '600' }), 'timeout', /must be an integer/],
    [good({ ssh_keys: ['nobody'] }), 'ssh_keys', /no ssh_keys 'nobody'/],
    [good({ command: 'true' }), 'command', /unknown field/],
  ];
  for (const [body, field, message] of cases) {
    const r = await cp.post('/v1/images/bake', body);
    assert.equal(r.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error.field, field, `${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
    assert.match(r.body.error.message, message, JSON.stringify(body));
  }
  assert.equal((await cp.post('/v1/images/bake', 'nope', { raw: true })).status, 400);
  const taken = await cp.post('/v1/images/bake', good({ name: 'debian-12-amd64' }));
  assert.equal(taken.status, 409, JSON.stringify(taken.body));
  assert.equal(taken.body.error.code, 'already_exists');
  assert.equal(taken.body.error.field, 'name');
  assert.deepEqual(await counts(), before, 'no image, VM or operation was made');
  assert.equal((await cp.post('/v1/images/bake', good(), { token: agentToken })).status, 403);
});

test('a bake that goes well: the order powers off and reports, the disk becomes the image, the VM goes', async () => {
  const b = await bake('golden');
  assert.match(b.image.id, /^img-[0-9a-f]{16}$/);
  assert.deepEqual([b.image.name, b.image.state, b.image.origin, b.image.architecture],
    ['golden', 'creating', 'bake', 'x86_64']);
  assert.equal(b.image.source.image, 'debian-12-amd64');
  assert.equal(b.image.source.user_data, USER_DATA);
  assert.equal(b.vm.name, `bake-${b.image.id}`);
  assert.equal(b.vm.autostart, 'never');
  assert.deepEqual(b.vm.ssh_keys.map((k) => k.name), ['alice']);
  assert.equal(b.operation.type, 'image.bake');
  assert.deepEqual(b.operation.target, { type: 'image', id: b.image.id });
  const early = await cp.post('/v1/vms', { name: 'too-early', size: 's-1vcpu-1gb', image: 'golden', ssh_keys: ['alice'] });
  assert.equal(early.status, 409, 'no VM from an image still baking');

  // What the guest is told to do: the user's runcmd, then power off through the reporter.
  const ci = (await cp.get(`/v1/vms/${b.vm.id}/cloud-init`)).body;
  assert.match(ci.user_data, /power_state:\n {2}mode: poweroff\n/);
  assert.match(ci.user_data, /condition:\n {4}- \/usr\/local\/lib\/cumulus\/report-baked\n/);
  assert.match(ci.user_data, /echo baked > \/etc\/baked/);
  assert.doesNotMatch(ci.user_data, /cumulus-ready\.service/);

  await heartbeat([report(b.vm.id)]);
  assert.match((await op(b.operation.id)).message, /cloud-init is running the user-data/);
  // The last word while the guest powers off, then QEMU gone.
  const word = { state: 'ready', message: 'cloud-init finished (guest uptime 70.2 s)', detail: 'status: done\n' };
  await heartbeat([report(b.vm.id, { bake: word })]);
  assert.match((await op(b.operation.id)).message, /powering off/);
  await heartbeat([report(b.vm.id, { state: 'stopped', guest: null, bake: word })]);
  const exportOrder = await until('the export order', () => {
    const o = orders.get(b.vm.id);
    return o?.export ? o : null;
  });
  assert.deepEqual(exportOrder.export, { image_id: b.image.id, snapshot: null });
  assert.equal(exportOrder.desired_state, 'stopped', 'the VM stays off while its disk is read');
  assert.match((await op(b.operation.id)).message, /making the image from its disk/);

  await heartbeat([report(b.vm.id, {
    state: 'stopped', guest: null, bake: word,
    export: { image_id: b.image.id, checksum: `sha256:${exportedSum}`, size_bytes: exported.length },
  })]);
  const done = await cp.get(`/v1/operations/${b.operation.id}/wait?timeout=20`);
  assert.equal(done.body.status, 'succeeded', JSON.stringify(done.body));
  const img = await image('golden');
  assert.equal(img.state, 'ready');
  assert.equal(img.checksum, `sha256:${exportedSum}`);
  assert.deepEqual(readFileSync(join(cp.dataDir, 'images', img.id, 'disk.qcow2')), exported);
  await assertVmGone(b.vm.id);
  assert.equal((await image('golden')).state, 'ready', 'the image outlives its VM');
});

test('cloud-init failing fails the bake with its status and log; the VM goes', async () => {
  const b = await bake('broken');
  const word = {
    state: 'failed', message: "cloud-init finished with errors: ('scripts-user', RuntimeError('Runparts: 1 failures'))",
    detail: 'cloud-init status --long:\nstatus: error\n\nthe end of /var/log/cloud-init-output.log:\nstep one\nexit 3\n',
  };
  await heartbeat([report(b.vm.id, { state: 'stopped', guest: null, bake: word })]);
  const o = await op(b.operation.id);
  assert.equal(o.status, 'failed');
  assert.equal(o.error.code, 'cloud_init_failed');
  assert.match(o.error.message, /scripts-user[\s\S]*status: error[\s\S]*step one\nexit 3/);
  assert.equal((await image('broken')).state, 'error');
  await assertVmGone(b.vm.id);
});

test('a power-off without a word, the host\'s error and a cancel each end the bake; the VM goes', async () => {
  const silent = await bake('silent');
  await heartbeat([report(silent.vm.id, { state: 'stopped', guest: null })]);
  let o = await op(silent.operation.id);
  assert.equal(o.error.code, 'bake_failed');
  assert.match(o.error.message, /stopped before cloud-init had finished, without a word from the guest/);
  await assertVmGone(silent.vm.id);

  const bad = await bake('bad-host');
  await heartbeat([report(bad.vm.id, {
    state: 'error', guest: null,
    error: { code: 'checksum_mismatch', message: "image 'debian-12-amd64': checksum mismatch", generation: 1 },
  })]);
  o = await op(bad.operation.id);
  assert.equal(o.error.code, 'checksum_mismatch');
  assert.match(o.error.message, /the host could not run the VM: image 'debian-12-amd64': checksum mismatch/);
  assert.equal((await image('bad-host')).state, 'error');
  await assertVmGone(bad.vm.id);

  const cancelled = await bake('cancelled');
  assert.equal((await cp.del(`/v1/images/${cancelled.image.id}`)).status, 204);
  await heartbeat([report(cancelled.vm.id)]);
  o = await op(cancelled.operation.id);
  assert.equal(o.error.code, 'cancelled');
  await assertVmGone(cancelled.vm.id);
  assert.equal(existsSync(join(cp.dataDir, 'images', cancelled.image.id)), false);
});

test('a bake that has not finished by its timeout fails; the VM goes', async () => {
  await heartbeat([report(slow.vm.id)]);
  assert.equal((await op(slow.operation.id)).status, 'running', 'not before its time');
  await new Promise((r) => setTimeout(r, Math.max(0, slowAt + 62000 - Date.now())));
  await heartbeat([report(slow.vm.id)]);
  const o = await op(slow.operation.id);
  assert.equal(o.error?.code, 'bake_timeout', JSON.stringify(o));
  assert.match(o.error.message, /had not finished when the bake's timeout passed; last word from the VM: booting: waiting for cloud-init/);
  assert.equal((await image('slow')).state, 'error');
  await assertVmGone(slow.vm.id);
});
