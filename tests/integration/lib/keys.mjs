// Real SSH keys for tests, made with ssh-keygen (spawned from an argv array).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Returns { publicKey, fingerprint } where fingerprint is what `ssh-keygen -lf` prints.
export function makeKey(type = 'ed25519', comment = 'test@cumulus') {
  const dir = mkdtempSync(join(tmpdir(), 'cumulus-key-'));
  try {
    const file = join(dir, 'id');
    const args = ['-q', '-t', type, '-N', '', '-C', comment, '-f', file];
    if (type === 'rsa') args.push('-b', '2048');
    execFileSync('ssh-keygen', args);
    const publicKey = readFileSync(`${file}.pub`, 'utf8').trim();
    const listed = execFileSync('ssh-keygen', ['-lf', `${file}.pub`], { encoding: 'utf8' });
    return { publicKey, fingerprint: listed.split(' ')[1], privateKeyFile: null };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
