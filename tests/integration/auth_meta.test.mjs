// Health, tokens and the shape of errors, against the real daemon.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startControlPlane } from './lib/controlplane.mjs';

let cp;
before(async () => { cp = await startControlPlane(); });
after(async () => { await cp.cleanup(); });

test('health answers without a token', async () => {
  const r = await cp.get('/v1/health', { token: null });
  assert.equal(r.status, 200);
  assert.equal(r.body.status, 'ok');
  assert.ok(r.body.schema_version >= 1);
});

test('token files are written once, readable by the owner alone', () => {
  for (const f of ['admin-token', 'join-token']) {
    const st = statSync(join(cp.dataDir, f));
    assert.equal(st.mode & 0o777, 0o600, `${f} mode`);
    assert.match(readFileSync(join(cp.dataDir, f), 'utf8'), /^cu\w+_[\w-]{43}\n$/);
  }
});

test('the database stores only hashes of tokens', () => {
  const db = readFileSync(join(cp.dataDir, 'cumulus.db'));
  const wal = (() => { try { return readFileSync(join(cp.dataDir, 'cumulus.db-wal')); } catch { return Buffer.alloc(0); } })();
  for (const f of ['admin-token', 'join-token']) {
    const token = readFileSync(join(cp.dataDir, f), 'utf8').trim();
    assert.equal(db.includes(token), false);
    assert.equal(wal.includes(token), false);
  }
});

test('every other route needs a valid bearer token', async () => {
  for (const path of ['/v1/vms', '/v1/sizes', '/v1/images', '/v1/ssh-keys', '/v1/hosts', '/v1/operations', '/v1/openapi.json']) {
    const none = await cp.get(path, { token: null });
    assert.equal(none.status, 401, path);
    assert.equal(none.body.error.code, 'unauthorized');
    assert.equal(none.headers.get('www-authenticate'), 'Bearer');
    const wrong = await cp.get(path, { token: 'cuadm_not-a-real-token' });
    assert.equal(wrong.status, 401, path);
  }
  const joinToken = readFileSync(join(cp.dataDir, 'join-token'), 'utf8').trim();
  const asAgent = await cp.get('/v1/vms', { token: joinToken });
  assert.equal(asAgent.status, 403);
  assert.equal(asAgent.body.error.code, 'forbidden');
});

test('unknown paths and methods get JSON errors', async () => {
  const r = await cp.get('/v1/nope');
  assert.equal(r.status, 404);
  assert.equal(r.body.error.code, 'route_not_found');
  const m = await cp.request('PATCH', '/v1/vms');
  assert.equal(m.status, 405);
  assert.equal(m.body.error.code, 'method_not_allowed');
  assert.ok('field' in m.body.error);
});

test('tokens survive a restart and a lost token file is replaced', async () => {
  const before = cp.token;
  await cp.stop();
  await cp.start();
  assert.equal(cp.token, before);
  assert.equal((await cp.get('/v1/sizes')).status, 200);

  const { rmSync } = await import('node:fs');
  await cp.stop();
  rmSync(join(cp.dataDir, 'admin-token'));
  await cp.start();
  assert.notEqual(cp.token, before, 'a new admin token was issued');
  assert.equal((await cp.get('/v1/sizes')).status, 200);
  assert.equal((await cp.get('/v1/sizes', { token: before })).status, 401, 'the lost token no longer works');
});

test('--help and --version', async () => {
  const { execFileSync } = await import('node:child_process');
  const bin = join(process.env.CUMULUS_BIN_DIR ?? 'build/bin', 'cumulus-controlplane');
  assert.match(execFileSync(bin, ['--version'], { encoding: 'utf8' }), /^cumulus-controlplane \d+\.\d+\.\d+\n$/);
  const help = execFileSync(bin, ['--help'], { encoding: 'utf8' });
  for (const word of ['--listen', '--data-dir', 'CUMULUS_CP_LISTEN', '--config']) assert.ok(help.includes(word), word);
});

test('a bad flag or config line fails at start with the reason', async () => {
  const { spawnSync } = await import('node:child_process');
  const { writeFileSync, mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const bin = join(process.env.CUMULUS_BIN_DIR ?? 'build/bin', 'cumulus-controlplane');
  const bad = spawnSync(bin, ['--no-such-flag'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown option '--no-such-flag'/);
  const dir = mkdtempSync(join(tmpdir(), 'cumulus-conf-'));
  try {
    const conf = join(dir, 'cp.conf');
    writeFileSync(conf, '# comment\nlisten = 127.0.0.1:0\nbogus = 1\n');
    const r = spawnSync(bin, ['--config', conf], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.ok(r.stderr.includes(`${conf}:3: unknown key 'bogus'`), r.stderr);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
