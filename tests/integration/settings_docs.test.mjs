// Every setting a daemon takes is documented in the README's "Settings"
// tables with its flag, environment variable and default, as the daemon's
// own --help prints them; and a config file key of each daemon works the
// same as its flag (a wrong one fails with the file and line).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = new URL('../..', import.meta.url).pathname;
const BIN_DIR = process.env.CUMULUS_BIN_DIR ?? join(ROOT, 'build/bin');
const DAEMONS = ['cumulus-controlplane', 'cumulus-agent', 'cumulus-webui'];

// [{ key, env, def, help }] from `--help`, --config/--help/--version left out.
function settings(bin) {
  const r = spawnSync(join(BIN_DIR, bin), ['--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^ {2}--([a-z-]+)\s+(.*) \(([A-Z_]+)(?:, default '(.*)')?\)$/.exec(line);
    if (m && m[1] !== 'config') out.push({ key: m[1], help: m[2], env: m[3], def: m[4] });
  }
  return out;
}

test('the README documents every setting of every daemon with its default', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Settings\n'));
  assert.ok(section.length > 1, 'README has a "## Settings" section');
  const missing = [];
  for (const bin of DAEMONS) {
    const list = settings(bin);
    assert.ok(list.length >= 8, `${bin} --help lists its settings`);
    for (const s of list) {
      const def = s.def === undefined ? 'none' : `\`${s.def}\``;
      const row = section.split('\n').find((l) => l.startsWith(`| \`--${s.key}\` | \`${s.env}\` |`));
      if (!row || !row.startsWith(`| \`--${s.key}\` | \`${s.env}\` | ${def} |`))
        missing.push(`${bin}: | \`--${s.key}\` | \`${s.env}\` | ${def} | ${s.help} |`);
    }
  }
  assert.deepEqual(missing, [], `rows missing or out of date in README "Settings":\n${missing.join('\n')}`);
});

test('a config file sets what the flag sets, for each daemon, and a bad line names file and line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cumulus-settings-'));
  try {
    for (const bin of DAEMONS) {
      const conf = join(dir, `${bin}.conf`);
      // A log level the daemon refuses proves the file's value was read.
      writeFileSync(conf, '# the log level\nlog-level = loud\n');
      let r = spawnSync(join(BIN_DIR, bin), ['--config', conf], { encoding: 'utf8' });
      assert.equal(r.status, 2, `${bin}: ${r.stderr}`);
      assert.match(r.stderr, /log-level must be debug, info, warn or error/);
      writeFileSync(conf, 'log-level = info\n\nlog-levle = debug\n');
      r = spawnSync(join(BIN_DIR, bin), ['--config', conf], { encoding: 'utf8' });
      assert.equal(r.status, 2, `${bin}: ${r.stderr}`);
      assert.ok(r.stderr.includes(`${conf}:3: unknown key 'log-levle'`), r.stderr);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
