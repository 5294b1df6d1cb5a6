// The README's first command: scripts/cumulus-up starts the cloud and the
// curl example it prints works; running it twice starts nothing twice;
// scripts/cumulus-down leaves no process behind.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
function run(script) {
  const r = spawnSync(join(root, 'scripts', script), [], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`${script} exited ${r.status}:\n${r.stdout}${r.stderr}`);
  return r.stdout + r.stderr;
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
