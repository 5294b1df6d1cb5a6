// Sizes, images and SSH keys: seeded defaults, CRUD, validation, in-use rules.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startControlPlane } from './lib/controlplane.mjs';
import { makeKey } from './lib/keys.mjs';

let cp;
before(async () => { cp = await startControlPlane(); });
after(async () => { await cp.cleanup(); });

const localImage = {
  name: 'local-debian-12', os: 'debian', version: '12', architecture: 'x86_64',
  url: 'file:///var/cache/cumulus/debian-12.qcow2',
  checksum: 'sha256:' + 'ab'.repeat(32), login_user: 'debian', boot: 'kernel',
  kernel: { url: 'file:///var/cache/cumulus/vmlinuz', checksum: 'sha256:' + 'cd'.repeat(32), cmdline: 'root=/dev/vda2 console=ttyS0' },
  initrd: { url: 'file:///var/cache/cumulus/initrd.img', checksum: 'sha256:' + 'ef'.repeat(32) },
};

test('sizes are seeded and can be created, read and deleted', async () => {
  const list = await cp.get('/v1/sizes');
  assert.equal(list.status, 200);
  const names = list.body.sizes.map((s) => s.name);
  assert.ok(names.includes('s-1vcpu-1gb'));
  const one = list.body.sizes.find((s) => s.name === 's-1vcpu-1gb');
  assert.deepEqual([one.vcpus, one.memory_mib, one.disk_gib], [1, 1024, 25]);
  assert.equal(list.body.next, null);

  const created = await cp.post('/v1/sizes', { name: 'tiny', vcpus: 1, memory_mib: 256, disk_gib: 3 });
  assert.equal(created.status, 201);
  assert.match(created.body.id, /^size-[0-9a-f]{16}$/);
  assert.equal((await cp.get('/v1/sizes/tiny')).body.id, created.body.id);
  assert.equal((await cp.get(`/v1/sizes/${created.body.id}`)).body.name, 'tiny');
  const dup = await cp.post('/v1/sizes', { name: 'tiny', vcpus: 2, memory_mib: 256, disk_gib: 3 });
  assert.equal(dup.status, 409);
  assert.equal(dup.body.error.field, 'name');
  assert.equal((await cp.del('/v1/sizes/tiny')).status, 204);
  assert.equal((await cp.get('/v1/sizes/tiny')).status, 404);
  assert.equal((await cp.del('/v1/sizes/tiny')).status, 404);
});

test('bad sizes are refused and change nothing', async () => {
  const before = (await cp.get('/v1/sizes')).body.sizes.length;
  const cases = [
    [{ name: 'x', vcpus: 0, memory_mib: 256, disk_gib: 1 }, 'vcpus'],
    [{ name: 'x', vcpus: 1, memory_mib: 1, disk_gib: 1 }, 'memory_mib'],
    [{ name: 'x', vcpus: 1, memory_mib: 256, disk_gib: 0 }, 'disk_gib'],
    [{ name: 'x', vcpus: '1', memory_mib: 256, disk_gib: 1 }, 'vcpus'],
    [{ name: 'Big_One', vcpus: 1, memory_mib: 256, disk_gib: 1 }, 'name'],
    [{ name: 'x', vcpus: 1, memory_mib: 256, disk_gib: 1, gpu: 1 }, 'gpu'],
    [{ vcpus: 1, memory_mib: 256, disk_gib: 1 }, 'name'],
  ];
  for (const [body, field] of cases) {
    const r = await cp.post('/v1/sizes', body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.body.error.field, field, JSON.stringify(r.body));
    assert.ok(r.body.error.message.length > 10);
  }
  assert.equal((await cp.get('/v1/sizes')).body.sizes.length, before);
});

test('the image catalogue holds Ubuntu 24.04 and Debian 12 for both architectures', async () => {
  const { images } = (await cp.get('/v1/images')).body;
  for (const name of ['ubuntu-24-04-amd64', 'ubuntu-24-04-arm64', 'debian-12-amd64', 'debian-12-arm64']) {
    const img = images.find((i) => i.name === name);
    assert.ok(img, name);
    assert.match(img.url, /^https:\/\/cloud(-images\.ubuntu\.com|\.debian\.org)\//);
    assert.match(img.checksum, /^sha(256:[0-9a-f]{64}|512:[0-9a-f]{128})$/);
    assert.equal(img.architecture, name.endsWith('arm64') ? 'aarch64' : 'x86_64');
    assert.equal(img.login_user, name.startsWith('ubuntu') ? 'ubuntu' : 'debian');
    assert.equal(img.origin, 'catalog');
  }
});

test('images can be added, e.g. a locally built one, and deleted', async () => {
  const r = await cp.post('/v1/images', localImage);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.equal(r.body.format, 'qcow2');
  assert.equal(r.body.boot, 'kernel');
  assert.deepEqual(r.body.kernel, localImage.kernel);
  assert.deepEqual(r.body.initrd, localImage.initrd);
  assert.equal(r.body.origin, 'user');
  const dup = await cp.post('/v1/images', localImage);
  assert.equal(dup.status, 409);
  assert.equal((await cp.del(`/v1/images/${r.body.id}`)).status, 204);
});

test('bad images are refused with the field named', async () => {
  const cases = [
    [{ architecture: 'riscv64' }, 'architecture'],
    [{ checksum: 'md5:abc' }, 'checksum'],
    [{ checksum: 'sha256:' + 'AB'.repeat(32) }, 'checksum'],
    [{ url: 'ftp://example.org/x.img' }, 'url'],
    [{ url: 'file:///var/cache/../../etc/shadow' }, 'url'],
    [{ url: 'https://example.org/a b.img' }, 'url'],
    [{ format: 'vmdk' }, 'format'],
    [{ boot: 'bios' }, 'boot'],
    [{ login_user: 'Root User' }, 'login_user'],
    [{ name: '../etc' }, 'name'],
    [{ extra: true }, 'extra'],
    [{ kernel: undefined }, 'kernel'], // boot 'kernel' needs one
    [{ kernel: { url: 'file:///k' } }, 'checksum'],
    [{ kernel: { ...localImage.kernel, checksum: 'sha256:12' } }, 'kernel.checksum'],
    [{ kernel: { ...localImage.kernel, url: 'gopher://x/k' } }, 'kernel.url'],
    [{ kernel: { ...localImage.kernel, cmdline: 'a\nb' } }, 'kernel.cmdline'],
    [{ initrd: { ...localImage.initrd, cmdline: 'x' } }, 'initrd.cmdline'],
  ];
  for (const [change, field] of cases) {
    const r = await cp.post('/v1/images', { ...localImage, name: 'bad-image', ...change });
    assert.equal(r.status, 400, JSON.stringify(change));
    assert.equal(r.body.error.field, field, JSON.stringify(r.body));
  }
  assert.equal((await cp.get('/v1/images/bad-image')).status, 404);
});

test('SSH keys are validated and fingerprinted as ssh-keygen -lf does', async () => {
  for (const type of ['ed25519', 'rsa', 'ecdsa']) {
    const key = makeKey(type);
    const r = await cp.post('/v1/ssh-keys', { name: `k-${type}`, public_key: key.publicKey + '\n' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.fingerprint, key.fingerprint);
    assert.equal(r.body.public_key, key.publicKey);
    assert.equal((await cp.get(`/v1/ssh-keys/${r.body.id}`)).body.name, `k-${type}`);
    const again = await cp.post('/v1/ssh-keys', { name: `other-${type}`, public_key: key.publicKey });
    assert.equal(again.status, 409);
    assert.equal(again.body.error.field, 'public_key');
  }
  assert.equal((await cp.del('/v1/ssh-keys/k-rsa')).status, 204);
});

test('broken keys are refused', async () => {
  const good = makeKey('ed25519').publicKey;
  const [type, b64] = good.split(' ');
  const cases = [
    'not a key',
    `${type} ${b64.slice(0, -4)}`,
    `${type} ${b64}!!`,
    `ssh-rsa ${b64}`,
    `ssh-dss ${b64}`,
    `command="rm -rf /" ${good}`,
    '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----',
    `${good}\n${good}`,
    '',
  ];
  for (const public_key of cases) {
    const r = await cp.post('/v1/ssh-keys', { name: 'broken', public_key });
    assert.equal(r.status, 400, public_key);
    assert.equal(r.body.error.field, public_key === '' ? 'public_key' : 'public_key');
  }
  assert.equal((await cp.get('/v1/ssh-keys/broken')).status, 404);
});

test('lists paginate with limit and a next link', async () => {
  const all = (await cp.get('/v1/sizes?limit=1000')).body.sizes.map((s) => s.id);
  assert.ok(all.length >= 5);
  const seen = [];
  let next = '/v1/sizes?limit=2';
  while (next) {
    const page = await cp.get(next);
    assert.equal(page.status, 200);
    assert.ok(page.body.sizes.length <= 2);
    seen.push(...page.body.sizes.map((s) => s.id));
    next = page.body.next;
  }
  assert.deepEqual(seen, all);
  for (const q of ['limit=0', 'limit=1001', 'limit=abc', 'after=-1', 'after=x']) {
    const r = await cp.get(`/v1/sizes?${q}`);
    assert.equal(r.status, 400, q);
  }
});
