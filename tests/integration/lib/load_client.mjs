// Runs bench-load-client (bench/load_client.c) from the build's bin/ with
// `args`: { proc, done }, `done` resolving once it exits to { code (or the
// signal), out, err, result }, `result` the figures of its "result ..."
// line ({ requests, rps, p50_ms, p90_ms, p99_ms, max_ms, errors }; empty
// when it printed none).
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const BIN_DIR = process.env.CUMULUS_BIN_DIR ?? new URL('../../../build/bin', import.meta.url).pathname;

export function loadClient(args) {
  const proc = spawn(join(BIN_DIR, 'bench-load-client'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { err += d; });
  const done = new Promise((resolve) => proc.on('exit', (code, signal) => {
    const line = /^result (.*)$/m.exec(out)?.[1] ?? '';
    const result = Object.fromEntries(line.split(' ').filter(Boolean).map((kv) => kv.split('=')).map(([k, v]) => [k, Number(v)]));
    resolve({ code: code ?? signal, out, err, result });
  }));
  return { proc, done };
}
