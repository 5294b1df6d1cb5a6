// Importing a locally built image from its manifest: the control plane
// copies and verifies the files, lists the image with paths it serves, and
// serves them byte for byte to admins and agents (never to anyone else);
// a manifest that lies or is malformed changes nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane } from './lib/controlplane.mjs';

let cp, dir;
const files = {
  'disk.qcow2': Buffer.from('QFI\xfb' + 'disk bytes '.repeat(5000), 'latin1'),
  vmlinuz: Buffer.from('kernel bytes '.repeat(300)),
  'initrd.img': Buffer.from('initrd bytes '.repeat(200)),
};
const sha = (b) => createHash('sha256').update(b).digest('hex');
const manifest = () => ({
  name: 'debian-12-local-amd64', os: 'debian', version: '12', architecture: 'x86_64', format: 'qcow2',
  file: 'disk.qcow2', sha256: sha(files['disk.qcow2']), size: files['disk.qcow2'].length,
  login_user: 'debian', boot: 'uefi',
  kernel: { file: 'vmlinuz', sha256: sha(files.vmlinuz), cmdline: 'root=UUID=1234 ro console=ttyS0' },
  initrd: { file: 'initrd.img', sha256: sha(files['initrd.img']) },
});
function writeManifest(m, name = 'manifest.json') {
  const p = join(dir, name);
  writeFileSync(p, typeof m === 'string' ? m : JSON.stringify(m));
  return p;
}
const imageDirs = () => (existsSync(join(cp.dataDir, 'images')) ? readdirSync(join(cp.dataDir, 'images')) : []);

before(async () => {
  cp = await startControlPlane();
  dir = mkdtempSync(join(tmpdir(), 'cumulus-import-'));
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
});
after(async () => {
  await cp?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

test('an image imported from its manifest is listed and its files are served', async () => {
  const r = await cp.post('/v1/images/import', { manifest: writeManifest(manifest()) });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const img = r.body;
  assert.equal(img.name, 'debian-12-local-amd64');
  assert.equal(img.origin, 'import');
  assert.equal(img.url, `/v1/images/${img.id}/files/disk.qcow2`);
  assert.equal(img.checksum, `sha256:${sha(files['disk.qcow2'])}`);
  assert.deepEqual(img.kernel, { url: `/v1/images/${img.id}/files/vmlinuz`, checksum: `sha256:${sha(files.vmlinuz)}`, cmdline: 'root=UUID=1234 ro console=ttyS0' });
  assert.deepEqual(img.initrd, { url: `/v1/images/${img.id}/files/initrd.img`, checksum: `sha256:${sha(files['initrd.img'])}` });
  assert.equal((await cp.get(`/v1/images/${img.name}`)).body.id, img.id);

  for (const [name, bytes] of Object.entries(files)) {
    const res = await fetch(`${cp.base}/v1/images/${img.id}/files/${name}`, { headers: { Authorization: `Bearer ${cp.token}` } });
    assert.equal(res.status, 200);
    assert.equal(Number(res.headers.get('content-length')), bytes.length);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(bytes), name);
  }
  // The files are the control plane's own copies: the build cache may go.
  rmSync(join(dir, 'vmlinuz'));
  const again = await fetch(`${cp.base}/v1/images/${img.id}/files/vmlinuz`, { headers: { Authorization: `Bearer ${cp.token}` } });
  assert.equal(again.status, 200);
  writeFileSync(join(dir, 'vmlinuz'), files.vmlinuz);

  assert.equal((await cp.get(`/v1/images/${img.id}/files/vmlinuz`, { token: null })).status, 401);
  assert.equal((await cp.get(`/v1/images/${img.id}/files/vmlinuz`, { token: 'cu_not-a-token' })).status, 401);
  for (const bad of ['nope', '..', '.hidden', 'manifest.json']) {
    const res = await cp.get(`/v1/images/${img.id}/files/${bad}`);
    assert.equal(res.status, 404, bad);
  }
  assert.equal((await cp.get(`/v1/images/${img.id}/files/%2e%2e%2fcumulus.db`)).status, 404);
  const official = (await cp.get('/v1/images/debian-12-amd64')).body;
  assert.equal((await cp.get(`/v1/images/${official.id}/files/disk.qcow2`)).status, 404);

  const dup = await cp.post('/v1/images/import', { manifest: writeManifest(manifest()) });
  assert.equal(dup.status, 409);
  assert.equal(dup.body.error.field, 'name');
  const renamed = await cp.post('/v1/images/import', { manifest: writeManifest(manifest()), name: 'debian-copy' });
  assert.equal(renamed.status, 201, JSON.stringify(renamed.body));
  assert.equal(imageDirs().length, 2);

  // Deleting the image deletes its files.
  assert.equal((await cp.del('/v1/images/debian-copy')).status, 204);
  assert.deepEqual(imageDirs(), [img.id]);
});

test('a manifest that lies or is malformed is refused and changes nothing', async () => {
  const count = async () => (await cp.get('/v1/images?limit=1000')).body.images.length;
  const before = await count();
  const dirsBefore = imageDirs();
  const lying = await cp.post('/v1/images/import', { manifest: writeManifest({ ...manifest(), name: 'liar', sha256: 'ab'.repeat(32) }, 'liar.json') });
  assert.equal(lying.status, 422, JSON.stringify(lying.body));
  assert.equal(lying.body.error.code, 'checksum_mismatch');
  assert.match(lying.body.error.message, /disk\.qcow2/);
  const badKernel = await cp.post('/v1/images/import', {
    manifest: writeManifest({ ...manifest(), name: 'liar2', kernel: { ...manifest().kernel, sha256: 'cd'.repeat(32) } }, 'liar2.json'),
  });
  assert.equal(badKernel.status, 422);
  assert.match(badKernel.body.error.message, /vmlinuz/);

  const cases = [
    [{ manifest: 'relative/manifest.json' }, /absolute path/],
    [{ manifest: join(dir, 'missing.json') }, /No such file/],
    [{ manifest: writeManifest('{not json', 'broken.json') }, /not a JSON object/],
    [{ manifest: writeManifest({ ...manifest(), file: '../etc/passwd' }, 'escape.json') }, /file must name a file beside/],
    [{ manifest: writeManifest({ ...manifest(), sha256: 'XYZ' }, 'badsum.json') }, /sha256 must be 64/],
    [{ manifest: writeManifest({ ...manifest(), kernel: { file: 'vmlinuz' } }, 'nokernelsum.json') }, /kernel.sha256/],
    [{ manifest: writeManifest({ ...manifest(), architecture: 'riscv64', name: 'rv' }, 'arch.json') }, /architecture/],
    [{ manifest: writeManifest({ ...manifest(), file: 'absent.qcow2', name: 'absent' }, 'absent.json') }, /absent\.qcow2/],
  ];
  for (const [body, message] of cases) {
    const r = await cp.post('/v1/images/import', body);
    assert.equal(r.status, 400, JSON.stringify(body) + JSON.stringify(r.body));
    assert.match(r.body.error.message, message);
  }
  const extra = await cp.post('/v1/images/import', { manifest: writeManifest(manifest()), url: 'x' });
  assert.equal(extra.status, 400);
  assert.equal(extra.body.error.field, 'url');
  assert.equal(await count(), before);
  assert.deepEqual(imageDirs(), dirsBefore);
});
