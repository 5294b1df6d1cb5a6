// Guest images built locally by images/build-* (built once and cached under
// ~/.cache/cumulus): the Debian 12 cloud image (build-debian) and the tiny
// test guest (build-tiny).  Each returns its directory and manifest.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = process.env.CUMULUS_SOURCE_DIR ?? new URL('../../..', import.meta.url).pathname;

export function builtImage(builder, arch) {
  const dir = execFileSync(join(root, 'images', builder), ['--arch', arch, '--print-dir'], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20,
  }).trim().split('\n').pop();
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  return { dir, manifest };
}

export function debianImage(arch = 'amd64') {
  return builtImage('build-debian', arch);
}
