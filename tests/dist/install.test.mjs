// scripts/install-linux --destdir stages the whole install of this build:
// the daemons, the dashboard with its vendor files, the service files where
// systemd reads them (naming the installed paths, not the stage), example
// settings never overwritten on a second run; and the staged cumulus-webui,
// started with no --static-dir, serves the dashboard from the staged share
// directory.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = process.env.CUMULUS_SOURCE_DIR;
const BUILD = process.env.CUMULUS_BUILD_DIR;
const stage = mkdtempSync(join(tmpdir(), 'cumulus-install-'));
after(() => rmSync(stage, { recursive: true, force: true }));
const prefix = /^CMAKE_INSTALL_PREFIX:PATH=(.*)$/m.exec(readFileSync(join(BUILD, 'CMakeCache.txt'), 'utf8'))[1];
const staged = (...p) => join(stage, ...p);

function install() {
  const r = spawnSync(join(ROOT, 'scripts/install-linux'), ['--destdir', stage, '--build-dir', BUILD, '--no-build'], { encoding: 'utf8' });
  assert.equal(r.status, 0, `install-linux exited ${r.status}:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

test('install-linux --destdir stages the daemons, the dashboard and the service files', () => {
  const out = install();
  assert.match(out, /systemctl enable --now cumulus-controlplane cumulus-agent cumulus-webui/);
  for (const d of ['controlplane', 'agent', 'webui']) {
    accessSync(staged(prefix, 'bin', `cumulus-${d}`), constants.X_OK);
    const unit = readFileSync(staged('etc/systemd/system', `cumulus-${d}.service`), 'utf8');
    assert.match(unit, new RegExp(`^ExecStart=${prefix}/bin/cumulus-${d}( |$)`, 'm'), 'the unit names the installed binary');
    assert.ok(!unit.includes(stage) && !unit.includes(BUILD), 'the unit names neither the stage nor the build');
    assert.equal(readFileSync(staged(prefix, 'share/cumulus/systemd', `cumulus-${d}.service`), 'utf8'), unit);
    const plist = readFileSync(staged(prefix, 'share/cumulus/launchd', `org.cumulus.${d}.plist`), 'utf8');
    assert.ok(plist.includes(`<string>${prefix}/bin/cumulus-${d}</string>`));
    assert.match(readFileSync(staged('etc/cumulus', `${d}.env`), 'utf8'), /CUMULUS_/);
  }
  assert.match(readFileSync(staged('etc/sysusers.d/cumulus.conf'), 'utf8'), /^u cumulus /m);
  assert.ok(statSync(staged('var/lib/cumulus')).isDirectory());
  const files = staged(prefix, 'share/cumulus/webui');
  assert.equal(readFileSync(join(files, 'index.html'), 'utf8'), readFileSync(join(BUILD, 'share/cumulus/webui/index.html'), 'utf8'));
  for (const f of ['vendor/novnc/core/rfb.js', 'vendor/xterm/xterm.js', 'vendor/xterm/addon-fit.js', 'vendor/xterm/xterm.css'])
    assert.ok(statSync(join(files, f)).size > 0, f);
});

test('install-linux again: the same files, settings that were edited kept', () => {
  const env = staged('etc/cumulus/agent.env');
  writeFileSync(env, 'CUMULUS_AGENT_LISTEN=0.0.0.0:8081\n');
  install();
  assert.equal(readFileSync(env, 'utf8'), 'CUMULUS_AGENT_LISTEN=0.0.0.0:8081\n');
});

test('the staged cumulus-webui serves the staged dashboard without --static-dir', async () => {
  const env = { ...process.env, ASAN_OPTIONS: 'detect_leaks=1' };
  delete env.CUMULUS_WEBUI_STATIC_DIR;
  const proc = spawn(staged(prefix, 'bin/cumulus-webui'), ['--listen', '127.0.0.1:0', '--control-plane', 'http://127.0.0.1:9'], { stdio: ['ignore', 'ignore', 'pipe'], env });
  let log = '';
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve(code ?? signal)));
  try {
    const port = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`webui did not start:\n${log}`)), 30000);
      proc.stderr.on('data', (c) => {
        log += c;
        const m = /listening on http:\/\/\S+ \(port (\d+)\)/.exec(log);
        if (m) { clearTimeout(timer); resolve(Number(m[1])); }
      });
      exited.then((how) => { clearTimeout(timer); reject(new Error(`webui exited (${how}):\n${log}`)); });
    });
    const files = staged(prefix, 'share/cumulus/webui');
    assert.ok(log.includes(`files from '${files}'`), log);
    const index = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(index.status, 200);
    assert.equal(await index.text(), readFileSync(join(files, 'index.html'), 'utf8'));
    const rfb = await fetch(`http://127.0.0.1:${port}/vendor/novnc/core/rfb.js`);
    assert.equal(rfb.status, 200);
    assert.equal((await rfb.text()).length, statSync(join(files, 'vendor/novnc/core/rfb.js')).size);
  } finally {
    proc.kill('SIGTERM');
  }
  assert.equal(await exited, 0, log);
});
