// Load (issue 10): a real control plane with two real agents (each on a
// test host of its own, lib/cluster.mjs) and a webui, one tiny guest
// running.  For LOAD_SECONDS, all at once:
//   - bench-load-client (bench/load_client.c) with 100 clients against the
//     control plane, the default mix: lists, one VM, its stats (asked of
//     its host), /metrics, and size and SSH-key creates and deletes;
//   - a second one with 10 clients through the webui's /api;
//   - 50 console viewers through the webui's console relay to the guest's
//     screen, each handshaking (RFB) and then asking for a corner of the
//     screen again and again, timing every answer;
//   - a watcher asking every daemon's health every 2 s and whether both
//     hosts stay up.
// Asserted: no request failed, every viewer got its updates, every daemon
// stayed healthy and every one exits cleanly on SIGTERM (under the
// sanitizers, the build the tests use, a leak or memory error fails).
// Latency is printed (p50/p99 by kind, per viewer), never asserted: this
// machine is shared and noisy.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startCluster } from './lib/cluster.mjs';
import { Webui } from './lib/webui.mjs';
import { loadClient } from './lib/load_client.mjs';
import { wsConnect, rfbHandshake, rfbFramebuffer, rfbUpdate, distinctPixels } from './lib/vnc_ws.mjs';

const LOAD_SECONDS = Number(process.env.LOAD_SECONDS ?? 60);
const CLIENTS = 100;
const UI_CLIENTS = 10;
const VIEWERS = 50;

let c, ui, vm;
before(async () => {
  c = await startCluster([{ name: 'h1' }, { name: 'h2' }]);
  ui = await new Webui(c.cp.base).start();
  const r = await c.cp.post('/v1/vms', c.vm('screen'));
  assert.equal(r.status, 202, JSON.stringify(r.body));
  await c.succeeded(r.body.operation);
  vm = (await c.cp.get('/v1/vms/screen')).body;
});
after(async () => {
  await ui?.cleanup();
  await c?.cleanup();
});

// bench-load-client with `clients` against `url` for the load's length.
function load(url, clients) {
  return loadClient(['--url', url, '--token-file', join(c.cp.dataDir, 'admin-token'), '--clients', String(clients),
    '--duration', String(LOAD_SECONDS), '--vm', vm.id, '--progress', '10']).done;
}

const pct = (xs, p) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil(s.length * p) - 1)];
};

// One viewer: a ticket through the webui's /api, the websocket through its
// relay, the RFB handshake, one whole screen, then a 64x16 corner again
// and again until `done()`; every step timed.
async function viewer(i, done) {
  const v = { i, updates: 0, rtts: [] };
  const t0 = performance.now();
  const ticket = await ui.console(vm.id, c.cp.token);
  assert.equal(ticket.status, 200, `viewer ${i}: ${JSON.stringify(ticket.body)}`);
  const open = await wsConnect(ui.wsUrl(ticket.body.proxy_path), { origin: ui.base, timeoutMs: 30000 });
  assert.ok(open.ok, `viewer ${i}: ${JSON.stringify({ status: open.status, error: open.error })}`);
  try {
    const init = await rfbHandshake(open.ws);
    v.handshakeMs = performance.now() - t0;
    const pixels = await rfbFramebuffer(open.ws, init);
    v.screenMs = performance.now() - t0;
    assert.ok(distinctPixels(pixels, init.bpp) > 1, `viewer ${i}: the screen is all one colour`);
    while (!done()) {
      const t = performance.now();
      const got = await rfbUpdate(open.ws, { width: 64, height: 16, bpp: init.bpp });
      assert.ok(got >= 64 * 16 * (init.bpp / 8), `viewer ${i}: ${got} bytes for a 64x16 corner`);
      v.rtts.push(performance.now() - t);
      v.updates++;
    }
  } finally {
    open.ws.close();
  }
  return v;
}

// Every 2 s: each daemon's health and both hosts up; what went wrong.
function watchHealth(done) {
  const problems = [];
  const check = async (what, url, headers) => {
    try {
      const r = await fetch(url, { headers, signal: AbortSignal.timeout(30000) });
      if (r.status !== 200) problems.push(`${what}: HTTP ${r.status} ${await r.text()}`);
      return r.status === 200 ? r.json() : null;
    } catch (e) {
      problems.push(`${what}: ${e.message}`);
      return null;
    }
  };
  const auth = { Authorization: `Bearer ${c.cp.token}` };
  const loop = (async () => {
    let rounds = 0;
    while (!done()) {
      rounds++;
      await check('control plane', `${c.cp.base}/v1/health`);
      await check('webui /api', `${ui.base}/api/v1/health`);
      for (const [name, a] of Object.entries(c.agents)) {
        await check(`agent ${name}`, `http://${a.host?.address ?? '127.0.0.1'}:${a.port}/v1/health`);
      }
      const hosts = await check('GET /v1/hosts', `${c.cp.base}/v1/hosts`, auth);
      for (const h of hosts?.hosts ?? []) if (h.state !== 'up') problems.push(`host ${h.name} is ${h.state}`);
      await new Promise((r) => setTimeout(r, 2000));
    }
    return rounds;
  })();
  return { problems, loop };
}

function printViewers(viewers) {
  const f = (x) => (Number.isFinite(x) ? x.toFixed(1).padStart(9) : '        -');
  console.log(`\n${viewers.length} console viewers through the webui relay (a 64x16 corner asked again and again), ms`);
  console.log('viewer  handshake   screen  updates      p50      p99      max');
  for (const v of viewers) {
    console.log(`${String(v.i).padStart(6)} ${f(v.handshakeMs)}${f(v.screenMs)} ${String(v.updates).padStart(8)}${f(pct(v.rtts, 0.5))}${f(pct(v.rtts, 0.99))}${f(pct(v.rtts, 1))}`);
  }
  const all = viewers.flatMap((v) => v.rtts);
  const hs = viewers.map((v) => v.handshakeMs);
  console.log(`   all ${f(pct(hs, 0.5))}${f(pct(viewers.map((v) => v.screenMs), 0.5))} ${String(all.length).padStart(8)}${f(pct(all, 0.5))}${f(pct(all, 0.99))}${f(pct(all, 1))}`);
  console.log(`(the "all" row: handshake and screen are medians over the viewers; max handshake ${f(pct(hs, 1)).trim()} ms)`);
}

test(`${CLIENTS} API clients, ${UI_CLIENTS} through the webui and ${VIEWERS} console viewers for ${LOAD_SECONDS} s: no errors, every daemon healthy`, async () => {
  let loading = true;
  const done = () => !loading;
  const health = watchHealth(done);
  const direct = load(c.cp.base, CLIENTS);
  const viaUi = load(`${ui.base}/api`, UI_CLIENTS);
  const both = Promise.all([direct, viaUi]).finally(() => { loading = false; });
  await new Promise((r) => setTimeout(r, 2000)); // the API is under load before the viewers come
  const viewers = Promise.allSettled(Array.from({ length: VIEWERS }, (_, i) => viewer(i + 1, done)));
  const [cp, web] = await both;
  const settled = await viewers;
  const rounds = await health.loop;

  for (const [what, r] of [[`control plane, ${CLIENTS} clients`, cp], [`webui /api, ${UI_CLIENTS} clients`, web]]) {
    console.log(`\n== ${what}\n${r.out}${r.err}`);
  }
  const ok = settled.filter((s) => s.status === 'fulfilled').map((s) => s.value);
  printViewers(ok);
  const failed = settled.map((s, i) => (s.status === 'rejected' ? `viewer ${i + 1}: ${s.reason?.message ?? s.reason}` : null)).filter(Boolean);
  if (failed.length) console.log(`\n${failed.length} viewers failed:\n  ${failed.slice(0, 10).join('\n  ')}`);
  console.log(`\nhealth: ${rounds} rounds of checks, ${health.problems.length} problems`);
  for (const [name, log] of [['webui', ui.log], ['control plane', c.cp.log], ...Object.entries(c.agents).map(([n, a]) => [`agent ${n}`, a.log])]) {
    const warnings = log.split('\n').filter((l) => / (warn|error):? /.test(l));
    if (warnings.length) console.log(`\n${name}: ${warnings.length} warnings or errors logged, the first:\n  ${warnings.slice(0, 10).join('\n  ')}`);
  }

  for (const [what, r] of [['control plane', cp], ['webui /api', web]]) {
    assert.equal(r.code, 0, `bench-load-client against the ${what} failed:\n${r.out}${r.err}`);
    assert.equal(r.result.errors, 0, `${what}: ${r.out}`);
    assert.ok(r.result.requests > 0, `${what}: no request was answered`);
  }
  assert.deepEqual(failed, [], `${failed.length} of ${VIEWERS} viewers failed`);
  for (const v of ok) assert.ok(v.updates > 0, `viewer ${v.i} got no update during the load`);
  assert.deepEqual(health.problems, [], 'every daemon answers its health check and both hosts stay up');
  assert.ok(rounds > 0);
});

test('every daemon exits cleanly after the load', async () => {
  // Under the sanitizers a leak or memory error makes the exit non-zero
  // (control plane, webui) or shows in the log (agents: lib/agent.mjs).
  for (const [name, a] of Object.entries(c.agents)) {
    const { code, signal } = await a.stop();
    assert.equal(code, 0, `agent ${name} exited with ${code ?? signal}:\n${a.log.slice(-4000)}`);
    assert.doesNotMatch(a.log, /ERROR: \w+Sanitizer|runtime error: /, `agent ${name}`);
  }
  await ui.cleanup();
  ui = null;
  const { code, signal } = await c.cp.stop();
  assert.equal(code, 0, `the control plane exited with ${code ?? signal}:\n${c.cp.log.slice(-4000)}`);
});
