// How a daemon takes the signals a service manager sends (common/daemon.c,
// common/http_server.c), shown on the control plane:
// - SIGTERM: new connections are refused at once, a request under way (its
//   body still uploading) is finished and answered, the daemon exits 0, and
//   what that request wrote is there after a restart.
// - SIGHUP: the log file (log-file) is opened again by name, so logrotate
//   can move it away; without a log file nothing changes.
// - A log-file that cannot be opened stops the start with the reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlPlane, startControlPlane } from './lib/controlplane.mjs';
import { makeKey } from './lib/keys.mjs';
import { until } from './lib/agent.mjs';

const BIN_DIR = process.env.CUMULUS_BIN_DIR ?? new URL('../../build/bin', import.meta.url).pathname;
const CP = join(BIN_DIR, 'cumulus-controlplane');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Resolves with the connection's error code, or 'connected'.
function tryConnect(port) {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve('connected'); });
    s.once('error', (e) => resolve(e.code));
  });
}

test('SIGTERM finishes and answers a request under way, refuses new ones, and keeps what it wrote', async () => {
  const cp = await startControlPlane();
  const dataDir = cp.dataDir;
  let again;
  try {
    const body = JSON.stringify({ name: 'in-flight', public_key: makeKey().publicKey });
    const half = Math.floor(body.length / 2);
    const sock = connect(cp.port, '127.0.0.1');
    let answer = '';
    sock.setEncoding('utf8');
    sock.on('data', (d) => { answer += d; });
    const closed = new Promise((resolve) => sock.on('close', resolve));
    await new Promise((resolve) => sock.once('connect', resolve));
    sock.write(`POST /v1/ssh-keys HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${cp.token}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n` +
      body.slice(0, half));
    await sleep(500); // the headers are in: the request has begun

    cp.proc.kill('SIGTERM');
    await until('the daemon to wait for the request', () => cp.log.includes('finishing 1 request(s) in flight'), 10000);
    assert.equal(await tryConnect(cp.port), 'ECONNREFUSED', 'a new connection while stopping');
    assert.equal(cp.proc.exitCode, null, 'the daemon waits for the request');

    sock.write(body.slice(half));
    await closed;
    const [head, json] = answer.split('\r\n\r\n');
    assert.match(head, /^HTTP\/1\.1 201 /, answer);
    const key = JSON.parse(json);
    assert.equal(key.name, 'in-flight');
    const { code, signal } = await cp.exited;
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, cp.log);
    assert.doesNotMatch(cp.log, /cutting them|closing the database/);
    assert.ok(existsSync(join(dataDir, 'cumulus.db')));
    assert.ok(!existsSync(join(dataDir, 'cumulus.db-wal')), 'the WAL is checkpointed into cumulus.db');

    again = await new ControlPlane({ dataDir }).start();
    const got = await again.request('GET', `/v1/ssh-keys/${key.id}`);
    assert.equal(got.status, 200);
    assert.equal(got.body.fingerprint, key.fingerprint);
  } finally {
    if (again) await again.cleanup();
    await cp.stop('SIGKILL').catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('SIGHUP reopens the log file by its name, as logrotate needs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cumulus-sighup-'));
  const log = join(dir, 'cp.log');
  const proc = spawn(CP, ['--listen', '127.0.0.1:0', '--data-dir', join(dir, 'data'), '--log-file', log],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1' } });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => proc.on('exit', (code, sig) => resolve({ code, sig })));
  try {
    const read = (f) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
    await until('the log file to say where it listens', () => /listening on http:\/\/\S+ \(port \d+\)/.test(read(log)), 15000);
    const port = Number(/\(port (\d+)\)/.exec(read(log))[1]);
    const token = readFileSync(join(dir, 'data', 'admin-token'), 'utf8').trim();
    const get = (path) => fetch(`http://127.0.0.1:${port}${path}`, { headers: { Authorization: `Bearer ${token}` } });

    assert.equal((await get('/v1/sizes')).status, 200);
    renameSync(log, `${log}.1`); // what logrotate does
    assert.equal((await get('/v1/images')).status, 200); // still to the moved file
    // A request is logged once answered: wait for its line before the reopen.
    await until('the request line in the moved file', () => read(`${log}.1`).includes('GET /v1/images 200'), 10000);
    proc.kill('SIGHUP');
    await until('the log file to be reopened', () => read(log).includes(`log file '${log}' reopened (SIGHUP)`), 10000);
    assert.equal((await get('/v1/ssh-keys')).status, 200);
    await until('the request line in the new file', () => read(log).includes('GET /v1/ssh-keys 200'), 10000);

    const old = read(`${log}.1`);
    assert.match(old, /listening on/);
    assert.match(old, /GET \/v1\/sizes 200/);
    assert.match(old, /GET \/v1\/images 200/);
    assert.doesNotMatch(old, /ssh-keys|reopened/);
    assert.doesNotMatch(read(log), /listening on|\/v1\/images/, 'the new file starts at the rotation');
    assert.equal(proc.exitCode, null, 'SIGHUP does not stop the daemon');
    assert.equal(stderr, '', 'nothing goes to the old standard error');

    proc.kill('SIGTERM');
    const { code } = await exited;
    assert.equal(code, 0, read(log));
    assert.match(read(log), /stopping on signal 15/);
  } finally {
    proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SIGHUP without a log file changes nothing', async () => {
  const cp = await startControlPlane();
  try {
    cp.proc.kill('SIGHUP');
    await sleep(300);
    assert.equal((await cp.request('GET', '/v1/sizes')).status, 200);
    assert.equal(cp.proc.exitCode, null);
  } finally {
    await cp.cleanup();
  }
});

test('a log file that cannot be opened stops the start with the reason', () => {
  for (const bin of ['cumulus-controlplane', 'cumulus-agent', 'cumulus-webui']) {
    const r = spawnSync(join(BIN_DIR, bin), ['--log-file', '/nonexistent-dir/x.log'], { encoding: 'utf8' });
    assert.equal(r.status, 2, `${bin}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^${bin}: log-file: cannot open '/nonexistent-dir/x.log' for appending: No such file or directory`));
  }
});
