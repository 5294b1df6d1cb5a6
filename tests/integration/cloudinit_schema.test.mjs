// Every rendered user-data passes Debian's `cloud-init schema`.  Multipart
// documents are checked part by part (cloud-init 22.4's schema command
// reads one cloud-config document).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane } from './lib/controlplane.mjs';
import { makeKey } from './lib/keys.mjs';

let cp, dir;
before(async () => {
  cp = await startControlPlane({ extraArgs: ['--host-timeout', '3600'] });
  await cp.joinHost();
  dir = mkdtempSync(join(tmpdir(), 'cumulus-ci-'));
  for (const [name, type] of [['k1', 'ed25519'], ['k2', 'rsa'], ['k3', 'ecdsa']]) {
    await cp.post('/v1/ssh-keys', { name, public_key: makeKey(type).publicKey });
  }
});
after(async () => { await cp.cleanup(); rmSync(dir, { recursive: true, force: true }); });

function schemaCheck(name, text) {
  const file = join(dir, name);
  writeFileSync(file, text);
  let out;
  try {
    out = execFileSync('cloud-init', ['schema', '--config-file', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    assert.fail(`cloud-init schema refused ${name}:\n${e.stdout}${e.stderr}\n--- document ---\n${text}`);
  }
  assert.match(out, /Valid cloud-config/, out);
}

// Splits a multipart/mixed document into [{type, body}].
function parts(doc) {
  const boundary = /boundary="?([^"\n;]+)"?/.exec(doc)[1];
  return doc.split(`--${boundary}`).slice(1, -1).map((p) => {
    const [head, ...rest] = p.replace(/^\r?\n/, '').split(/\r?\n\r?\n/);
    return { type: /Content-Type: ([^;\n]+)/i.exec(head)[1].trim(), body: rest.join('\n\n') };
  });
}

const cases = {
  'no user data': {},
  'several keys': { ssh_keys: ['k1', 'k2', 'k3'] },
  'cloud-config merge': {
    user_data: '#cloud-config\npackages: [nginx, htop]\npackage_update: true\nruncmd:\n  - [touch, /tmp/hello]\nwrite_files:\n  - path: /etc/motd\n    content: "welcome\\n"\n',
  },
  'their users and our login user': {
    user_data: '#cloud-config\nusers:\n  - default\n  - name: debian\n    ssh_authorized_keys: ["' + makeKey('ed25519', 'extra').publicKey + '"]\n  - name: alice\n    shell: /bin/bash\n    groups: [adm]\n',
  },
  'their hostname and timezone': { user_data: '#cloud-config\nhostname: custom\ntimezone: Europe/Lisbon\n' },
  'only user data, no keys': { ssh_keys: [], user_data: '#cloud-config\nusers:\n  - name: ops\n    lock_passwd: false\n    plain_text_passwd: changeme\n' },
  'a shell script': { user_data: '#!/bin/sh\necho hello > /tmp/hello\n' },
  'a boothook': { user_data: '#cloud-boothook\n#!/bin/sh\necho early > /tmp/early\n' },
};

for (const [what, extra] of Object.entries(cases)) {
  test(`user-data for ${what} passes cloud-init schema`, async () => {
    const name = `ci-${Object.keys(cases).indexOf(what)}`;
    const r = await cp.post('/v1/vms', { name, size: 's-1vcpu-1gb', image: 'ubuntu-24-04-amd64', ssh_keys: ['k1'], ...extra });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const { user_data: ud, meta_data: md } = (await cp.get(`/v1/vms/${name}/cloud-init`)).body;
    assert.match(md, /^instance-id: vm-[0-9a-f]{16}\nlocal-hostname: ci-\d+\n$/);
    if (ud.startsWith('#cloud-config')) {
      schemaCheck(name, ud);
    } else {
      assert.match(ud, /^Content-Type: multipart\/mixed; boundary=/);
      const ps = parts(ud);
      assert.equal(ps[0].type, 'text/cloud-config');
      schemaCheck(`${name}-part1`, ps[0].body);
      assert.ok(ps[1].body.startsWith(extra.user_data), 'their part verbatim');
    }
    // Same VM, same seed: rendering is deterministic.
    assert.equal((await cp.get(`/v1/vms/${name}/cloud-init`)).body.user_data, ud);
  });
}
