// VMs and operations: create → 202 + operation, one action at a time,
// delete, long-polling, filters and pages, and every bad input refused
// without changing anything.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startControlPlane } from './lib/controlplane.mjs';
import { makeKey } from './lib/keys.mjs';

let cp;
const key = makeKey('ed25519', 'alice@laptop');
before(async () => {
  // A joined host without an agent: VMs are placed and their orders wait.
  cp = await startControlPlane({ extraArgs: ['--host-timeout', '3600'] });
  await cp.joinHost();
  assert.equal((await cp.post('/v1/ssh-keys', { name: 'alice', public_key: key.publicKey })).status, 201);
});
after(async () => { await cp.cleanup(); });

const vm = (name, extra = {}) => ({ name, size: 's-1vcpu-1gb', image: 'debian-12-amd64', ssh_keys: ['alice'], ...extra });
const count = async () => (await cp.get('/v1/vms?limit=1000')).body.vms.length;

test('creating a VM answers 202 with the VM, an operation and its Location', async () => {
  const r = await cp.post('/v1/vms', vm('web-1'));
  assert.equal(r.status, 202, JSON.stringify(r.body));
  const { vm: v, operation: op } = r.body;
  assert.match(v.id, /^vm-[0-9a-f]{16}$/);
  assert.equal(v.name, 'web-1');
  assert.equal(v.desired_state, 'running');
  assert.equal(v.state, 'pending');
  assert.equal(v.host, 'host-a');
  assert.equal(v.ssh_port, null);
  assert.deepEqual([v.vcpus, v.memory_mib, v.disk_gib, v.image, v.architecture], [1, 1024, 25, 'debian-12-amd64', 'x86_64']);
  assert.equal(v.ssh_keys[0].fingerprint, key.fingerprint);
  assert.ok(v.created_at && v.updated_at);
  assert.equal(op.type, 'vm.create');
  assert.equal(op.status, 'pending');
  assert.deepEqual(op.target, { type: 'vm', id: v.id });
  assert.match(op.message, /placed/);
  assert.equal(r.headers.get('location'), `/v1/operations/${op.id}`);
  const followed = await cp.get(r.headers.get('location'));
  assert.equal(followed.body.id, op.id);
  assert.equal((await cp.get('/v1/vms/web-1')).body.id, v.id);
  assert.equal((await cp.get(`/v1/vms/${v.id}`)).body.name, 'web-1');
});

test('a second mutating action while one is in flight gets 409 naming it', async () => {
  const r = await cp.post('/v1/vms', vm('busy-1'));
  const opId = r.body.operation.id;
  for (const type of ['stop', 'start', 'reboot', 'power_off']) {
    const a = await cp.post('/v1/vms/busy-1/actions', { type });
    assert.equal(a.status, 409, type);
    assert.equal(a.body.error.code, 'operation_in_progress');
    assert.ok(a.body.error.message.includes(opId), a.body.error.message);
  }
  const bad = await cp.post('/v1/vms/busy-1/actions', { type: 'explode' });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.field, 'type');
});

test('wait long-polls: times out on a pending operation, wakes when it ends', async () => {
  const r = await cp.post('/v1/vms', vm('waiter'));
  const opId = r.body.operation.id;
  const t0 = Date.now();
  const timedOut = await cp.get(`/v1/operations/${opId}/wait?timeout=1`);
  assert.equal(timedOut.status, 200);
  assert.equal(timedOut.body.status, 'pending');
  assert.ok(Date.now() - t0 >= 900, 'waited about a second');

  // A long wait, woken by the delete that cancels the create.
  const t1 = Date.now();
  const waiting = cp.get(`/v1/operations/${opId}/wait?timeout=60`);
  await new Promise((res) => setTimeout(res, 300));
  const del = await cp.del('/v1/vms/waiter');
  assert.equal(del.status, 202);
  const woke = await waiting;
  assert.ok(Date.now() - t1 < 10000, 'woken, not timed out');
  assert.equal(woke.body.status, 'failed');
  assert.equal(woke.body.error.code, 'cancelled');

  // The delete waits for the host to destroy the VM (no agent answers here).
  const delOp = (await cp.get(`/v1/operations/${del.body.operation.id}`)).body;
  assert.equal(delOp.type, 'vm.delete');
  assert.ok(['pending', 'running'].includes(delOp.status), delOp.status);
  assert.match(delOp.message, /host/);
  const deleting = (await cp.get('/v1/vms/waiter')).body;
  assert.deepEqual([deleting.desired_state, deleting.state], ['deleted', 'deleting']);
  for (const q of ['timeout=-1', 'timeout=601', 'timeout=soon']) {
    assert.equal((await cp.get(`/v1/operations/${opId}/wait?${q}`)).status, 400, q);
  }
  assert.equal((await cp.get('/v1/operations/op-0000000000000000/wait?timeout=0')).status, 404);
});

test('images and sizes in use cannot be deleted', async () => {
  await cp.post('/v1/sizes', { name: 'in-use', vcpus: 1, memory_mib: 256, disk_gib: 2 });
  assert.equal((await cp.post('/v1/vms', vm('uses-size', { size: 'in-use' }))).status, 202);
  const s = await cp.del('/v1/sizes/in-use');
  assert.equal(s.status, 409);
  assert.equal(s.body.error.code, 'in_use');
  const i = await cp.del('/v1/images/debian-12-amd64');
  assert.equal(i.status, 409);
  // Still in use while its host has not destroyed the VM.
  assert.equal((await cp.del('/v1/vms/uses-size')).status, 202);
  assert.equal((await cp.del('/v1/sizes/in-use')).status, 409);
  await cp.post('/v1/sizes', { name: 'unused', vcpus: 1, memory_mib: 256, disk_gib: 2 });
  assert.equal((await cp.del('/v1/sizes/unused')).status, 204);
});

test('deleting an SSH key leaves the VMs that use it their copy', async () => {
  const other = makeKey('ed25519', 'bob');
  await cp.post('/v1/ssh-keys', { name: 'bob', public_key: other.publicKey });
  await cp.post('/v1/vms', vm('keeps-key', { ssh_keys: ['bob', other.fingerprint] }));
  assert.equal((await cp.del('/v1/ssh-keys/bob')).status, 204);
  const v = (await cp.get('/v1/vms/keeps-key')).body;
  assert.equal(v.ssh_keys.length, 1, 'the same key named twice is kept once');
  assert.equal(v.ssh_keys[0].fingerprint, other.fingerprint);
  const ci = (await cp.get('/v1/vms/keeps-key/cloud-init')).body;
  assert.ok(ci.user_data.includes(other.publicKey));
});

test('list filters by state and host and pages with next links', async () => {
  for (let i = 0; i < 5; i++) await cp.post('/v1/vms', vm(`page-${i}`));
  const all = (await cp.get('/v1/vms?limit=1000')).body.vms;
  const ids = [];
  let next = '/v1/vms?state=pending&limit=2';
  while (next) {
    const page = await cp.get(next);
    assert.equal(page.status, 200);
    assert.ok(page.body.vms.every((v) => v.state === 'pending'));
    ids.push(...page.body.vms.map((v) => v.id));
    if (page.body.next) assert.match(page.body.next, /^\/v1\/vms\?state=pending&limit=2&after=\d+$/);
    next = page.body.next;
  }
  assert.deepEqual(ids, all.filter((v) => v.state === 'pending').map((v) => v.id));
  assert.equal((await cp.get('/v1/vms?state=running')).body.vms.length, 0);
  assert.equal((await cp.get('/v1/vms?host=nowhere')).body.vms.length, 0);
  assert.equal((await cp.get('/v1/vms?state=sleepy')).status, 400);
  const ops = await cp.get(`/v1/operations?target=${all[0].id}`);
  assert.ok(ops.body.operations.length >= 1);
  assert.ok(ops.body.operations.every((o) => o.target.id === all[0].id));
});

test('every bad create is refused with a clear error and changes nothing', async () => {
  await cp.post('/v1/vms', vm('taken'));
  const before = await count();
  const opsBefore = (await cp.get('/v1/operations?limit=1000')).body.operations.length;
  const cases = [
    ['unknown field', vm('a1', { colour: 'blue' }), 400, 'colour'],
    ['wrong type', vm('a2', { size: 2 }), 400, 'size'],
    ['keys not strings', vm('a3', { ssh_keys: [1] }), 400, 'ssh_keys'],
    ['missing name', { size: 's-1vcpu-1gb', image: 'debian-12-amd64', ssh_keys: ['alice'] }, 400, 'name'],
    ['upper case name', vm('Web'), 400, 'name'],
    ['name with dot', vm('web.example'), 400, 'name'],
    ['name with slash', vm('../etc'), 400, 'name'],
    ['leading hyphen', vm('-web'), 400, 'name'],
    ['too long name', vm('a'.repeat(64)), 400, 'name'],
    ['unknown size', vm('a4', { size: 'huge' }), 400, 'size'],
    ['unknown image', vm('a5', { image: 'windows-95' }), 400, 'image'],
    ['unknown key', vm('a6', { ssh_keys: ['mallory'] }), 400, 'ssh_keys'],
    ['no key, no user_data', vm('a7', { ssh_keys: [] }), 400, 'ssh_keys'],
    ['duplicate name', vm('taken'), 409, 'name'],
    ['user_data over 64 KiB', vm('a8', { user_data: '#cloud-config\n#' + 'x'.repeat(65536) }), 400, 'user_data'],
    ['user_data not cloud-config or script', vm('a9', { user_data: 'hello' }), 400, 'user_data'],
    ['user_data broken YAML', vm('a10', { user_data: '#cloud-config\npackages: [a, b\n' }), 400, 'user_data'],
    ['user_data top level not a mapping', vm('a11', { user_data: '#cloud-config\n- a\n- b\n' }), 400, 'user_data'],
  ];
  for (const [what, body, status, field] of cases) {
    const r = await cp.post('/v1/vms', body);
    assert.equal(r.status, status, `${what}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error.field, field, what);
    assert.ok(r.body.error.code && r.body.error.message, what);
  }
  const raw = [
    ['malformed JSON', '{"name": "x",', 400, 'invalid_json'],
    ['not an object', '[1,2]', 400, 'invalid_json'],
    ['empty body', '', 400, 'invalid_json'],
    ['duplicate keys', '{"name":"a","name":"b"}', 400, 'invalid_json'],
    ['oversized body', JSON.stringify(vm('big', { user_data: '#cloud-config\n#' + 'x'.repeat(2 << 20) })), 413, 'body_too_large'],
  ];
  for (const [what, body, status, code] of raw) {
    const r = await cp.request('POST', '/v1/vms', body, { raw: true });
    assert.equal(r.status, status, what);
    assert.equal(r.body.error.code, code, what);
  }
  assert.equal(await count(), before);
  assert.equal((await cp.get('/v1/operations?limit=1000')).body.operations.length, opsBefore);
});

test('curl -d @file.json works (form content type, body as sent)', async () => {
  const res = await fetch(`${cp.base}/v1/vms`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${cp.token}`, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: JSON.stringify(vm('from-curl')),
  });
  assert.equal(res.status, 202);
});

test('the cloud-init seed: meta-data and a user-data with the user and keys', async () => {
  const r = await cp.post('/v1/vms', vm('seeded'));
  const ci = await cp.get('/v1/vms/seeded/cloud-init');
  assert.equal(ci.status, 200);
  assert.match(ci.body.meta_data, new RegExp(`instance-id: ${r.body.vm.id}`));
  assert.match(ci.body.meta_data, /local-hostname: seeded/);
  assert.match(ci.body.user_data, /^#cloud-config\n/);
  assert.match(ci.body.user_data, /name: debian/);
  assert.ok(ci.body.user_data.includes(key.publicKey));
  assert.equal((await cp.get('/v1/vms/nope/cloud-init')).status, 404);
});
