// The tiny test guest (images/build-tiny), built once
// and cached under ~/.cache/cumulus; returns its directory and manifest.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = process.env.CUMULUS_SOURCE_DIR ?? new URL('../../..', import.meta.url).pathname;

export function tinyImage(arch = 'amd64') {
  const dir = execFileSync(join(root, 'images', 'build-tiny'), ['--arch', arch, '--print-dir'], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20,
  }).trim().split('\n').pop();
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  return { dir, manifest };
}
