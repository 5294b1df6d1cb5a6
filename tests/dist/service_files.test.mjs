// The service files (dist/), configured for this build's bin/: the systemd
// units pass `systemd-analyze verify` without a word and keep the settings
// that matter (Type=notify, the sandbox, KillMode=process for the agent
// alone); every flag and variable they set is one the daemon knows; the
// sysusers snippet makes the cumulus user; the launchd plists are valid
// (plutil -lint where there is one, else python3's plistlib) and say the same.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const DIST = process.env.CUMULUS_DIST_DIR; // BUILD/dist/build-tree
const BIN_DIR = process.env.CUMULUS_BIN_DIR;
const DAEMONS = ['controlplane', 'agent', 'webui'];
const linux = process.platform === 'linux';

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) throw new Error(`cannot run ${cmd}: ${r.error.message}`);
  return r;
}

// A unit file as { key: [values] } over all its sections.
function parseUnit(path) {
  const keys = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) (keys[m[1]] ??= []).push(m[2]);
  }
  return keys;
}

// What a daemon's --help names: its flags and its environment variables.
const helps = Object.fromEntries(DAEMONS.map((d) => [d, run(join(BIN_DIR, `cumulus-${d}`), ['--help']).stdout]));
function assertKnown(daemon, names, where) {
  for (const n of names) assert.ok(helps[daemon].includes(n.startsWith('--') ? `${n} ` : `(${n}`), `${where}: cumulus-${daemon} has no setting '${n}'`);
}
const unitPath = (d) => join(DIST, 'systemd', `cumulus-${d}.service`);

test('systemd-analyze verify finds nothing to say about the units', { skip: !linux }, () => {
  const r = run('systemd-analyze', ['verify', '--man=no', ...DAEMONS.map(unitPath)]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr.trim(), '', 'warnings from systemd-analyze verify');
});

test('systemd-analyze security rates each unit OK or better (exposure 5.0 at most; the threshold counts tenths)', { skip: !linux }, () => {
  for (const d of DAEMONS) {
    const r = run('systemd-analyze', ['security', '--offline=true', '--threshold=50', '--no-pager', unitPath(d)]);
    assert.equal(r.status, 0, `${d}: ${r.stdout.split('\n').slice(-2).join('')}${r.stderr}`);
  }
});

test('the units: notify, a dedicated user, state and sandbox; the agent keeps its VMs', () => {
  for (const d of DAEMONS) {
    const u = parseUnit(unitPath(d));
    const one = (k) => { assert.equal(u[k]?.length, 1, `${d}: ${k}= set once`); return u[k][0]; };
    assert.equal(one('Type'), 'notify', d);
    assert.equal(one('User'), 'cumulus', d);
    assert.equal(one('Restart'), 'on-failure', d);
    assert.equal(one('ProtectSystem'), 'strict', d);
    assert.equal(one('ProtectHome'), 'yes', d);
    assert.equal(one('PrivateTmp'), 'yes', d);
    assert.equal(one('NoNewPrivileges'), 'yes', d);
    assert.equal(one('ConfigurationDirectory'), 'cumulus', d);
    assert.match(one('After'), /network-online\.target/, d);
    const argv = one('ExecStart').split(/\s+/);
    assert.equal(argv[0], join(BIN_DIR, `cumulus-${d}`), d);
    assertKnown(d, argv.filter((a) => a.startsWith('--')), `${d}.service ExecStart`);
    assertKnown(d, (u.Environment ?? []).map((e) => e.split('=')[0]), `${d}.service Environment`);
    if (d !== 'webui') {
      assert.equal(one('StateDirectory'), `cumulus/${d}`, d);
      assert.equal(argv[argv.indexOf('--data-dir') + 1], `/var/lib/cumulus/${d}`, `${d}: --data-dir is the StateDirectory`);
    }
    assert.equal(u.KillMode?.[0] === 'process', d === 'agent', `${d}: KillMode=process for the agent only`);
  }
  const agent = parseUnit(unitPath('agent'));
  assert.ok(agent.DeviceAllow.includes('/dev/kvm rw'), 'the agent may open /dev/kvm');
  assert.deepEqual(agent.SupplementaryGroups, ['kvm']);
  assert.equal(agent.PrivateDevices, undefined, 'PrivateDevices would hide /dev/kvm');
  assert.equal(agent.MemoryDenyWriteExecute, undefined, "MemoryDenyWriteExecute would stop QEMU's TCG");
  assert.match(parseUnit(unitPath('webui')).After[0], /cumulus-controlplane\.service/);
});

test('the example settings name variables the daemons know', () => {
  for (const d of DAEMONS) {
    const text = readFileSync(join(process.env.CUMULUS_SOURCE_DIR, 'dist', 'env', `${d}.env`), 'utf8');
    const names = [...text.matchAll(/^#?(CUMULUS_[A-Z_]+)=/gm)].map((m) => m[1]);
    assert.ok(names.length > 0, d);
    assertKnown(d, names, `${d}.env`);
  }
});

test('the sysusers snippet makes the cumulus user and group', { skip: !linux }, () => {
  const root = mkdtempSync(join(tmpdir(), 'cumulus-sysusers-'));
  try {
    mkdirSync(join(root, 'etc'));
    const r = run('systemd-sysusers', [`--root=${root}`, join(DIST, 'systemd', 'cumulus.sysusers.conf')]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(readFileSync(join(root, 'etc/passwd'), 'utf8'), /^cumulus:x:\d+:\d+:[^:]*:\/var\/lib\/cumulus:\/usr\/sbin\/nologin$/m);
    assert.match(readFileSync(join(root, 'etc/group'), 'utf8'), /^cumulus:x:\d+:/m);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

// A plist as JSON, by python3's plistlib (any platform); plutil -lint first where there is one.
function loadPlist(path) {
  const plutil = run('sh', ['-c', 'command -v plutil']).stdout.trim();
  if (plutil) {
    const r = run(plutil, ['-lint', path]);
    assert.equal(r.status, 0, `plutil -lint ${path}: ${r.stdout}${r.stderr}`);
  }
  const r = run('python3', ['-c', 'import json, plistlib, sys; print(json.dumps(plistlib.load(open(sys.argv[1], "rb"))))', path]);
  assert.equal(r.status, 0, `${path} is not a valid plist: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

test('the launchd plists: valid, the daemon from bin/, kept alive on failure, VMs outlive the agent', () => {
  for (const d of DAEMONS) {
    const p = loadPlist(join(DIST, 'launchd', `org.cumulus.${d}.plist`));
    assert.equal(p.Label, `org.cumulus.${d}`);
    assert.equal(p.ProgramArguments[0], join(BIN_DIR, `cumulus-${d}`));
    assert.ok(existsSync(p.ProgramArguments[0]));
    assertKnown(d, p.ProgramArguments.filter((a) => a.startsWith('--')), `org.cumulus.${d}.plist`);
    assertKnown(d, Object.keys(p.EnvironmentVariables ?? {}).filter((k) => k !== 'PATH'), `org.cumulus.${d}.plist`);
    assert.equal(p.RunAtLoad, true, d);
    assert.deepEqual(p.KeepAlive, { SuccessfulExit: false }, d);
    assert.equal(p.UserName, '_cumulus', d);
    assert.match(p.StandardOutPath, /\/var\/log\/cumulus\/\w+\.log$/, d);
    assert.equal(p.StandardErrorPath, p.StandardOutPath, d);
    assert.equal(p.AbandonProcessGroup === true, d === 'agent', `${d}: AbandonProcessGroup for the agent only`);
  }
});
