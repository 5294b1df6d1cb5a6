// A data directory's files, to show that a refused request wrote nothing.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

// Paths under `dir` (relative; directories end in '/'), sorted, without
// SQLite's WAL, shared memory and journal, which change on every read.
export function dirListing(dir, prefix = '') {
  const out = [];
  for (const name of readdirSync(dir)) {
    if (/-(wal|shm|journal)$/.test(name)) continue;
    const rel = prefix + name;
    if (statSync(join(dir, name)).isDirectory()) out.push(`${rel}/`, ...dirListing(join(dir, name), `${rel}/`));
    else out.push(rel);
  }
  return out.sort();
}
