// The user_data the end-to-end VMs boot with, written as cloud-config YAML
// by hand (block style, as a user would write it).
import { buildDeb } from './cloud.mjs';

export const RUNCMD_LOG = '/var/lib/cumulus-e2e/runcmd.log';
export const DEB_NAME = 'cumulus-e2e-hello';

// A runcmd that appends one line per run (so a re-run would show), and a
// package shipped in write_files (base64) and installed with dpkg -i.
export function installingUserData() {
  const deb = buildDeb(DEB_NAME);
  return [
    '#cloud-config',
    'write_files:',
    `  - path: /var/cache/cumulus-e2e/${DEB_NAME}.deb`,
    '    encoding: b64',
    "    permissions: '0644'",
    `    content: ${deb.base64}`,
    'runcmd:',
    `  - mkdir -p /var/lib/cumulus-e2e`,
    `  - echo "runcmd ran" >> ${RUNCMD_LOG}`,
    `  - dpkg -i /var/cache/cumulus-e2e/${DEB_NAME}.deb`,
    '',
  ].join('\n');
}

// A runcmd that does something, then fails: cloud-init's scripts_user
// module reports the error and cloud-init ends in status "error". The
// quotes matter: a bare `false` is a YAML boolean, which cloud-init's
// runcmd module refuses before anything runs.
export const FAILING_USER_DATA = [
  '#cloud-config',
  'runcmd:',
  '  - echo "before the failure" > /var/tmp/cumulus-e2e-before-failure',
  "  - 'false'",
  '',
].join('\n');
