// bench/soak.mjs: is the daemons' memory flat under a steady load?  Run
// by bench/run-soak, which builds a release build first; see
// bench/README.md.  Figures are printed, never judged.
//
// Starts a control plane, an agent (heartbeat every second) and a webui,
// boots one tiny guest, then for SOAK_MINUTES at once:
//   - bench-load-client against the control plane: SOAK_CLIENTS clients,
//     at most SOAK_RATE requests a second, the default mix (lists, the VM,
//     its stats from the agent, /metrics, size and key creates/deletes);
//   - another through the webui's /api (SOAK_UI_CLIENTS, SOAK_UI_RATE);
//   - SOAK_VIEWERS console viewers through the webui's relay, each one
//     session after another (ticket, handshake, the screen, a few updates,
//     close): the relay's and the agent's proxy's per-session memory;
//   - the peer: bench-bare-mhd (the daemons' HTTP threading, no work) under
//     a third load client with the control plane's clients and rate, so the
//     allocator's own drift under the same kind of load shows beside the
//     daemons'.
// Every SOAK_INTERVAL seconds it samples each process's RSS (VmRSS) and
// PSS (smaps_rollup, where readable), and at the end prints the samples,
// the growth from the first third of the run to the last (means of the
// samples in each), and the load clients' reports.
//
// Exits non-zero only when something failed to run: a daemon that died or
// did not start, a load client that saw a failed request (its report says
// which), a viewer that failed.  Every process started here is stopped on
// exit, also on SIGINT/SIGTERM (the run then ends early and still reports).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startControlPlane } from '../tests/integration/lib/controlplane.mjs';
import { Agent, until } from '../tests/integration/lib/agent.mjs';
import { Webui } from '../tests/integration/lib/webui.mjs';
import { addTinyImage } from '../tests/integration/lib/tiny_image.mjs';
import { wsConnect, rfbHandshake, rfbFramebuffer, rfbUpdate } from '../tests/integration/lib/vnc_ws.mjs';
import { loadClient } from '../tests/integration/lib/load_client.mjs';

const env = (name, dflt) => {
  const v = Number(process.env[name] ?? dflt);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name} must be a number >= 0, not '${process.env[name]}'`);
  return v;
};
const MINUTES = env('SOAK_MINUTES', 30);
const INTERVAL = env('SOAK_INTERVAL', 30);
const CLIENTS = env('SOAK_CLIENTS', 20);
const RATE = env('SOAK_RATE', 200);
const UI_CLIENTS = env('SOAK_UI_CLIENTS', 4);
const UI_RATE = env('SOAK_UI_RATE', 20);
const VIEWERS = env('SOAK_VIEWERS', 2);
const BIN_DIR = process.env.CUMULUS_BIN_DIR ?? new URL('../build/bin', import.meta.url).pathname;

const say = (s) => console.error(`# ${s}`);
let stopping = false;
let wake = () => {};
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => { say(`${sig}: ending the soak early`); stopping = true; process.exitCode = 130; wake(); });
}
const sleep = (ms) => new Promise((r) => { const t = setTimeout(r, ms); wake = () => { clearTimeout(t); r(); }; });

// ---- memory --------------------------------------------------------------
function memKiB(pid) {
  const grab = (file, re) => {
    try { return Number(re.exec(readFileSync(`/proc/${pid}/${file}`, 'utf8'))?.[1] ?? NaN); } catch { return NaN; }
  };
  return { rss: grab('status', /^VmRSS:\s+(\d+)/m), pss: grab('smaps_rollup', /^Pss:\s+(\d+)/m) };
}

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

// The mean of the first third of the samples and of the last, and the
// growth between them per minute (between the two thirds' mean times).
function growth(samples, name, key) {
  const n = Math.floor(samples.length / 3);
  if (n < 1) return null;
  const first = samples.slice(0, n), last = samples.slice(-n);
  const a = mean(first.map((s) => s.mem[name][key])), b = mean(last.map((s) => s.mem[name][key]));
  const minutes = (mean(last.map((s) => s.t)) - mean(first.map((s) => s.t))) / 60;
  return { a, b, kib: b - a, perMin: minutes > 0 ? (b - a) / minutes : NaN };
}

function report(procs, samples) {
  const names = Object.keys(procs);
  const cell = (m) => `${Number.isFinite(m.rss) ? m.rss : '-'}/${Number.isFinite(m.pss) ? m.pss : '-'}`.padStart(18);
  console.log(`\nMemory over time, KiB as RSS/PSS (- where unreadable); one sample every ${INTERVAL} s`);
  console.log(`${'minute'.padStart(7)}${names.map((n) => n.padStart(18)).join('')}`);
  for (const s of samples) console.log(`${(s.t / 60).toFixed(1).padStart(7)}${names.map((n) => cell(s.mem[n])).join('')}`);
  // The first sample is taken as the load starts: the baseline, not a
  // figure under load, so it is printed but left out of the thirds.
  const loaded = samples.slice(1);
  console.log(`\nGrowth from the first third of the samples under load to the last (means of ${Math.floor(loaded.length / 3)} samples each; the one at 0.0 left out)`);
  console.log(`${'process'.padEnd(26)}${'first KiB'.padStart(12)}${'last KiB'.padStart(12)}${'growth KiB'.padStart(12)}${'KiB/min'.padStart(10)}`);
  for (const n of names) {
    for (const key of ['rss', 'pss']) {
      const g = growth(loaded, n, key);
      if (!g || !Number.isFinite(g.a)) continue;
      console.log(`${`${n} ${key.toUpperCase()}`.padEnd(26)}${g.a.toFixed(0).padStart(12)}${g.b.toFixed(0).padStart(12)}${g.kib.toFixed(0).padStart(12)}${g.perMin.toFixed(1).padStart(10)}`);
    }
  }
  if (loaded.length < 3) console.log('(fewer than 3 samples under load: no growth figures; run longer or sample more often)');
}

// ---- load ----------------------------------------------------------------
// A bench-load-client run for the soak's length: { name, proc, done }.
function load(name, url, tokenFile, args) {
  return { name, ...loadClient(['--url', url, '--token-file', tokenFile, '--duration', String(MINUTES * 60),
    '--progress', String(Math.max(INTERVAL, 1)), ...args]) };
}

// One viewer: sessions one after another until the soak ends.
async function viewer(ui, token, vm, stats) {
  while (!stopping && performance.now() < stats.end) {
    try {
      const ticket = await ui.console(vm, token);
      if (ticket.status !== 200) throw new Error(`POST console: ${ticket.status} ${JSON.stringify(ticket.body)}`);
      const open = await wsConnect(ui.wsUrl(ticket.body.proxy_path), { origin: ui.base });
      if (!open.ok) throw new Error(`websocket refused: ${open.status} ${open.error ?? ''}`);
      try {
        const init = await rfbHandshake(open.ws);
        await rfbFramebuffer(open.ws, init);
        for (let i = 0; i < 10; i++) await rfbUpdate(open.ws, { width: 64, height: 16, bpp: init.bpp });
      } finally {
        open.ws.close();
      }
      stats.sessions++;
    } catch (e) {
      stats.failures++;
      stats.first ??= e.message;
    }
    await sleep(1000);
  }
}

// ---- the run --------------------------------------------------------------
const started = [];
const failed = [];
const cp = await startControlPlane();
started.push(cp);
try {
  const agent = await new Agent(cp, { name: 'soak' }).start();
  started.push(agent);
  const ui = await new Webui(cp.base).start();
  started.push(ui);
  await until('the host to join', async () => (await cp.get('/v1/hosts')).body.hosts.find((h) => h.state === 'up'));
  await addTinyImage(cp);
  const created = await cp.post('/v1/vms', { name: 'soak', size: 't-128mb', image: 'tiny-amd64', ssh_keys: ['tester'] });
  const op = await cp.finished(created.body.operation, 600);
  if (op.status !== 'succeeded') throw new Error(`the soak VM did not start: ${JSON.stringify(op)}`);
  const vm = created.body.vm.id;

  const page = (await cp.get('/v1/vms')).body;
  const bare = spawn(join(BIN_DIR, 'bench-bare-mhd'), ['--listen', '127.0.0.1:0', '--body-bytes', String(Math.max(64, JSON.stringify(page).length))], { stdio: ['ignore', 'ignore', 'pipe'] });
  const bareExited = new Promise((r) => bare.on('exit', r));
  started.push({ cleanup: async () => { bare.kill('SIGTERM'); await bareExited; } });
  const barePort = await new Promise((resolve, reject) => {
    let log = '';
    bare.stderr.on('data', (d) => { log += d; const m = /\(port (\d+)\)/.exec(log); if (m) resolve(Number(m[1])); });
    bare.on('exit', (code) => reject(new Error(`bench-bare-mhd exited (${code}): ${log}`)));
  });

  const procs = { controlplane: cp.proc, agent: agent.proc, webui: ui.proc, 'bare MHD (peer)': bare };
  const died = Object.entries(procs).map(([n, p]) => new Promise((r) => p.on('exit', (code, sig) => r(`${n} exited (${code ?? sig}) during the soak`))));
  say(`${MINUTES} min: ${CLIENTS} clients at most ${RATE} req/s against the control plane and as many against the peer, ` +
    `${UI_CLIENTS} at most ${UI_RATE} req/s through the webui, ${VIEWERS} console viewers; a sample every ${INTERVAL} s`);

  const tokenFile = join(cp.dataDir, 'admin-token');
  const common = ['--clients', String(CLIENTS), '--rate', String(RATE)];
  const loads = [
    load('control plane', cp.base, tokenFile, [...common, '--vm', vm]),
    load('peer: bench-bare-mhd', `http://127.0.0.1:${barePort}`, tokenFile, [...common, '--any-2xx']),
  ];
  if (UI_CLIENTS > 0) loads.push(load('webui /api', `${ui.base}/api`, tokenFile, ['--clients', String(UI_CLIENTS), '--rate', String(UI_RATE), '--vm', vm]));
  started.push({ cleanup: async () => loads.forEach((l) => l.proc.kill('SIGINT')) });

  const t0 = performance.now();
  const viewing = { sessions: 0, failures: 0, first: null, end: t0 + MINUTES * 60000 };
  const viewers = Array.from({ length: VIEWERS }, () => viewer(ui, cp.token, vm, viewing));
  const samples = [];
  let death = null;
  died.forEach((d) => d.then((why) => { death ??= why; wake(); }));
  for (;;) {
    const t = (performance.now() - t0) / 1000;
    const mem = Object.fromEntries(Object.entries(procs).map(([n, p]) => [n, memKiB(p.pid)]));
    samples.push({ t, mem });
    say(`${(t / 60).toFixed(1)} min: ${Object.entries(mem).map(([n, m]) => `${n} ${m.rss}/${m.pss} KiB`).join(', ')}; ${viewing.sessions} console sessions`);
    if (stopping || death || t >= MINUTES * 60) break;
    await sleep(Math.min(INTERVAL * 1000, t0 + MINUTES * 60000 - performance.now()));
  }
  if (stopping || death) loads.forEach((l) => l.proc.kill('SIGINT'));
  const results = await Promise.all(loads.map(async (l) => ({ name: l.name, ...await l.done })));
  stopping = true;
  await Promise.all(viewers);

  report(procs, samples);
  for (const r of results) console.log(`\n== load: ${r.name}\n${r.out.trim()}`);
  console.log(`\n== console viewers: ${viewing.sessions} sessions, ${viewing.failures} failed${viewing.first ? ` (first: ${viewing.first})` : ''}`);
  if (death) failed.push(death);
  failed.push(...results.filter((r) => r.code !== 0).map((r) => `the load client against the ${r.name} exited with ${r.code}${r.err ? `: ${r.err.trim().split('\n').slice(-3).join(' | ')}` : ''}`));
  if (viewing.failures) failed.push(`${viewing.failures} console sessions failed`);
} catch (e) {
  failed.push(e.stack ?? String(e));
} finally {
  for (const p of started.reverse()) {
    try { await p.cleanup(); } catch (e) { failed.push(e.message.split('\n')[0]); }
  }
}
if (failed.length) {
  console.error(`\nrun-soak: something failed to run, the figures may not be of the success path:\n  ${failed.join('\n  ')}`);
  process.exitCode = 1;
}
