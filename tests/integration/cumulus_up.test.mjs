// The README's first command: scripts/cumulus-up starts the cloud and the
// curl example it prints works; running it twice starts nothing twice;
// scripts/cumulus-down leaves no process behind.  Then, on the same state,
// cumulus-up --tls: certificates from scripts/make-certs, every daemon on
// HTTPS/WSS, the dashboard and its /api answer over https:// to a client
// with the printed CA (and to no other), a run without --tls refuses to mix
// with it, and cumulus-down again leaves nothing behind.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = process.env.CUMULUS_SOURCE_DIR ?? new URL('../..', import.meta.url).pathname;
const state = mkdtempSync(join(tmpdir(), 'cumulus-up-'));
// A build directory of its own, so the test build is left untouched.
const env = {
  ...process.env,
  CUMULUS_STATE_DIR: state,
  CUMULUS_PORT: '0',
  CUMULUS_BUILD_DIR: process.env.CUMULUS_UP_BUILD_DIR ?? join(state, 'build'),
  CUMULUS_DEMO: '0', // the demo VM boots a real guest: the e2e tier covers that
};
// Runs a script; returns what it printed (stdout and stderr), throws if it failed.
function run(script, args = []) {
  const r = spawnSync(join(root, 'scripts', script), args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`${script} exited ${r.status}:\n${r.stdout}${r.stderr}`);
  return r.stdout + r.stderr;
}

// The daemons' pids, from their pid files.
function pids() {
  const dir = join(state, 'run');
  return readdirSync(dir).filter((f) => f.endsWith('.pid')).map((f) => Number(readFileSync(join(dir, f), 'utf8')));
}

// GET over https trusting `ca` (or not): { status, body }, or rejects.
function getHttps(url, { ca, token } = {}) {
  return new Promise((resolve, reject) => {
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    const req = httpsRequest(url, { headers, ca, timeout: 10000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

after(() => {
  try { run('cumulus-down'); } finally { rmSync(state, { recursive: true, force: true }); }
});

test('cumulus-up starts the control plane, an agent and the dashboard; its curl example works', async () => {
  const out = run('cumulus-up');
  const curl = out.split('\n').find((l) => l.trim().startsWith('curl '));
  assert.ok(curl, out);
  // The line is meant to be pasted into a shell, so a shell runs it here.
  const answer = JSON.parse(execFileSync('bash', ['-c', curl], { encoding: 'utf8' }));
  assert.ok(answer.sizes.some((s) => s.name === 's-1vcpu-1gb'));

  // The agent joined: the control plane lists this host, up.
  const hostsCurl = curl.replace('/v1/sizes', '/v1/hosts');
  const deadline = Date.now() + 30000;
  let hosts;
  do {
    hosts = JSON.parse(execFileSync('bash', ['-c', hostsCurl], { encoding: 'utf8' })).hosts;
  } while (!hosts.some((h) => h.state === 'up') && Date.now() < deadline);
  assert.ok(hosts.some((h) => h.state === 'up'), JSON.stringify(hosts));

  // The dashboard serves its page and passes /api to the control plane.
  const ui = /dashboard\s+(http:\/\/\S+)/.exec(out)?.[1];
  assert.ok(ui, out);
  assert.match(await (await fetch(`${ui}/`)).text(), /<title>Cumulus<\/title>/);
  const token = readFileSync(join(state, 'controlplane', 'admin-token'), 'utf8').trim();
  const viaUi = await fetch(`${ui}/api/v1/sizes`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(viaUi.status, 200);
  assert.ok((await viaUi.json()).sizes.some((s) => s.name === 's-1vcpu-1gb'));

  const pids = ['controlplane', 'agent', 'webui'].map((d) => Number(readFileSync(join(state, 'run', `${d}.pid`), 'utf8')));
  const again = run('cumulus-up');
  assert.match(again, /already running/);
  assert.equal(Number(readFileSync(join(state, 'run', 'controlplane.pid'), 'utf8')), pids[0]);

  run('cumulus-down');
  for (const pid of pids) assert.throws(() => process.kill(pid, 0), /ESRCH/, 'the daemons are gone');
});

test('cumulus-up --tls: a local CA, every daemon on TLS, the dashboard over https; cumulus-down stops it all', async () => {
  const out = run('cumulus-up', ['--tls']);
  const caPath = /CA certificate\s+(\S+)/.exec(out)?.[1];
  assert.equal(caPath, join(state, 'tls', 'ca.crt'), out);
  const ca = readFileSync(caPath);
  for (const d of ['controlplane', 'agent', 'webui']) {
    assert.ok(existsSync(join(state, 'tls', `${d}.crt`)), `${d}'s certificate`);
    const san = execFileSync('openssl', ['x509', '-in', join(state, 'tls', `${d}.crt`), '-noout', '-ext', 'subjectAltName'], { encoding: 'utf8' });
    assert.match(san, /IP Address:127\.0\.0\.1/, d);
  }
  for (const d of ['controlplane', 'agent', 'webui']) {
    assert.match(readFileSync(join(state, 'logs', `${d}.log`), 'utf8'), /listening on https:\/\//, `${d} serves TLS`);
  }
  assert.match(readFileSync(join(state, 'logs', 'agent.log'), 'utf8'), /websockets on wss:\/\//, 'consoles over wss://');

  // The printed curl example trusts the CA and works.
  const curl = out.split('\n').find((l) => l.trim().startsWith('curl '));
  assert.match(curl, /--cacert \S+ca\.crt/);
  assert.match(curl, /https:\/\/127\.0\.0\.1:\d+\/v1\/sizes/);
  const answer = JSON.parse(execFileSync('bash', ['-c', curl], { encoding: 'utf8' }));
  assert.ok(answer.sizes.some((s) => s.name === 's-1vcpu-1gb'));

  // The dashboard over https with the CA, and not without it.
  const ui = /dashboard\s+(https:\/\/\S+)/.exec(out)?.[1];
  assert.ok(ui, out);
  const page = await getHttps(`${ui}/`, { ca });
  assert.equal(page.status, 200);
  assert.match(page.body, /<title>Cumulus<\/title>/);
  await assert.rejects(getHttps(`${ui}/`), (e) => /CERT|SIGNATURE|ISSUER/.test(e.code ?? ''), 'no CA, no dashboard');
  // Its /api reaches the control plane over TLS, and the agent's heartbeats
  // arrive (the control plane speaks nothing but TLS now).
  const token = readFileSync(join(state, 'controlplane', 'admin-token'), 'utf8').trim();
  const beats = new Set();
  const deadline = Date.now() + 30000;
  while (beats.size < 2 && Date.now() < deadline) {
    const r = await getHttps(`${ui}/api/v1/hosts`, { ca, token });
    assert.equal(r.status, 200, r.body);
    for (const h of JSON.parse(r.body).hosts) if (h.state === 'up') beats.add(h.last_heartbeat);
    await new Promise((res) => setTimeout(res, 500));
  }
  assert.ok(beats.size >= 2, `heartbeats seen: ${[...beats]}`);

  // Without --tls, it does not mix plain HTTP with the daemons on TLS.
  const mixed = spawnSync(join(root, 'scripts', 'cumulus-up'), [], { env, encoding: 'utf8' });
  assert.notEqual(mixed.status, 0);
  assert.match(mixed.stderr, /run with TLS: stop them with scripts\/cumulus-down first/);

  // Again with --tls: nothing restarted, the certificates kept.
  const running = pids();
  const caBefore = readFileSync(caPath, 'utf8');
  assert.match(run('cumulus-up', ['--tls']), /already running/);
  assert.deepEqual(pids(), running);
  assert.equal(readFileSync(caPath, 'utf8'), caBefore, 'the CA is kept');

  run('cumulus-down');
  assert.equal(running.length, 3);
  for (const pid of running) assert.throws(() => process.kill(pid, 0), /ESRCH/, 'the daemons are gone');
});
