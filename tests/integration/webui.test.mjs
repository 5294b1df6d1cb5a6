// cumulus-webui: the dashboard's files and the control plane's API on one
// origin.  /api/<path> is the control plane's <path>: the same status and
// body for every method, the Authorization header and the body passed on,
// the query kept, streams passed as they come; a body over 8 MiB is refused without reaching the
// control plane; a control plane that is gone is a 502 in the API's error
// shape, one that does not answer within --api-timeout a 504 (a slow answer
// within it passes; a long-poll gets its own timeout on top); files
// outside the dashboard's directory are not served.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { startControlPlane } from './lib/controlplane.mjs';
import { Webui } from './lib/webui.mjs';
import { makeKey } from './lib/keys.mjs';

let cp, ui;
before(async () => {
  cp = await startControlPlane();
  ui = await new Webui(cp.base).start();
});
after(async () => {
  await ui?.cleanup();
  await cp?.cleanup();
});

async function viaUi(method, path, { body, token = cp.token, raw } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${ui.base}${path}`, { method, headers, body: raw ?? (body === undefined ? undefined : JSON.stringify(body)) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, type: res.headers.get('content-type'), text, json };
}

test('the dashboard page and its files', async () => {
  const page = await viaUi('GET', '/', { token: null });
  assert.equal(page.status, 200);
  assert.match(page.type, /text\/html/);
  assert.match(page.text, /<title>Cumulus<\/title>/);
  const js = await viaUi('GET', '/app.js', { token: null });
  assert.equal(js.status, 200);
  assert.match(js.type, /javascript/);
  assert.equal((await viaUi('GET', '/no-such-file.js', { token: null })).status, 404);
});

test('/api is the control plane: reads, writes with bodies, deletes, queries, refusals', async () => {
  const direct = await cp.get('/v1/sizes');
  const sizes = await viaUi('GET', '/api/v1/sizes');
  assert.equal(sizes.status, 200);
  assert.match(sizes.type, /application\/json/);
  assert.deepEqual(sizes.json, direct.body);

  const noToken = await viaUi('GET', '/api/v1/vms', { token: null });
  assert.equal(noToken.status, 401);
  assert.ok(noToken.json?.error?.message, noToken.text);

  const key = makeKey().publicKey;
  const made = await viaUi('POST', '/api/v1/ssh-keys', { body: { name: 'through-ui', public_key: key } });
  assert.equal(made.status, 201, made.text);
  assert.equal((await cp.get('/v1/ssh-keys/through-ui')).status, 200, 'it reached the control plane');
  const bad = await viaUi('POST', '/api/v1/ssh-keys', { raw: '{"name": ' });
  assert.equal(bad.status, 400, bad.text);
  assert.ok(bad.json?.error?.message, bad.text);
  const listed = await viaUi('GET', '/api/v1/ssh-keys?limit=1');
  assert.equal(listed.status, 200);
  assert.equal(listed.json.ssh_keys.length, 1, 'the query reached the control plane');
  const two = await viaUi('GET', '/api/v1/ssh-keys?limit=1&after=0');
  assert.equal(two.status, 200, `both arguments arrive as two: ${two.text}`);
  assert.equal(two.json.ssh_keys.length, 1);
  const amp = await viaUi('GET', '/api/v1/operations?target=a%26b&limit=2');
  assert.equal(amp.status, 400, amp.text);
  assert.match(amp.json.error.message, /'a&b'/, 'an encoded & stays inside its value');
  assert.equal((await viaUi('DELETE', '/api/v1/ssh-keys/through-ui')).status, 204);
  assert.equal((await cp.get('/v1/ssh-keys/through-ui')).status, 404);
});

test('a stream passes as it comes: the live events (Server-Sent Events) open through /api', async () => {
  const ac = new AbortController();
  const res = await fetch(`${ui.base}/api/v1/events?follow=true`, { headers: { Authorization: `Bearer ${cp.token}` }, signal: ac.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /text\/event-stream/);
  const reader = res.body.getReader();
  let text = '';
  const deadline = Date.now() + 5000;
  while (!/^retry: /m.test(text) || !/^id: /m.test(text)) {
    assert.ok(Date.now() < deadline, `the stream's opening came through before its end: ${JSON.stringify(text)}`);
    const { value, done } = await reader.read();
    assert.ok(!done, 'the stream is still open');
    text += Buffer.from(value).toString();
  }
  // Quiet for longer than any idle timeout of the webui's, then an event:
  // it still comes through the same stream.
  await new Promise((r) => setTimeout(r, 7000));
  const made = await cp.post('/v1/images', {
    name: 'late-event', os: 'debian', version: '12', architecture: 'x86_64',
    url: 'http://images.example/late.qcow2', checksum: `sha256:${'1'.repeat(64)}`, login_user: 'debian',
  });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const until = Date.now() + 5000;
  while (!/event: image\.created/.test(text)) {
    assert.ok(Date.now() < until, `the event came through the stream: ${JSON.stringify(text)}`);
    const { value, done } = await reader.read();
    assert.ok(!done, 'the stream is still open after 7 s of quiet');
    text += Buffer.from(value).toString();
  }
  ac.abort(); // the browser goes: the webui drops the control plane's side too
  await reader.read().catch(() => {});
});

test('a body over 8 MiB is refused with 413 and never reaches the control plane', async () => {
  const big = JSON.stringify({ name: 'too-big', public_key: 'x'.repeat(9 * 1024 * 1024) });
  const r = await viaUi('POST', '/api/v1/ssh-keys', { raw: big });
  assert.equal(r.status, 413, r.text);
  assert.equal(r.json?.error?.code, 'body_too_large');
  assert.equal((await cp.get('/v1/ssh-keys/too-big')).status, 404);
});

test('no file outside the dashboard\'s directory is served', async () => {
  const status = await new Promise((resolve, reject) => {
    // A raw path: fetch would normalise the dots away.
    const req = request({ host: '127.0.0.1', port: ui.port, path: '/../../../../etc/passwd' }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ code: res.statusCode, body }));
    });
    req.on('error', reject);
    req.end();
  });
  assert.notEqual(status.code, 200);
  assert.doesNotMatch(status.body, /root:/);
});

test('a control plane that is gone: 502 in the API\'s error shape', async () => {
  const other = await startControlPlane();
  const lone = await new Webui(other.base).start();
  try {
    await other.cleanup();
    const r = await fetch(`${lone.base}/api/v1/vms`, { headers: { Authorization: 'Bearer x' } });
    assert.equal(r.status, 502);
    const body = await r.json();
    assert.equal(body.error.code, 'upstream_unavailable');
  } finally {
    await lone.cleanup();
  }
});

// The control plane frozen (SIGSTOP) for `ms`: its socket still takes
// connections and requests, nothing is answered until it thaws.
function freeze(ms) {
  cp.proc.kill('SIGSTOP');
  const timer = setTimeout(() => cp.proc.kill('SIGCONT'), ms);
  return () => { clearTimeout(timer); cp.proc.kill('SIGCONT'); };
}

const seconds = (t0) => (Date.now() - t0) / 1000;

test('an answer that takes longer than 5 s still passes (the control plane frozen for 6 s)', async () => {
  const t0 = Date.now();
  const thaw = freeze(6000);
  try {
    const r = await viaUi('GET', '/api/v1/hosts');
    assert.equal(r.status, 200, r.text);
    assert.ok(seconds(t0) >= 5.9, `answered after ${seconds(t0)} s while frozen for 6 s`);
    assert.ok(Array.isArray(r.json?.hosts), r.text);
  } finally {
    thaw();
  }
});

test('--api-timeout: no answer in time is a 504 upstream_timeout; a long-poll\'s own timeout is added', async () => {
  const short = await new Webui(cp.base, { args: ['--api-timeout', '2'] }).start();
  const get = (path) => fetch(`${short.base}${path}`, { headers: { Authorization: `Bearer ${cp.token}` } });
  try {
    let t0 = Date.now();
    let thaw = freeze(4000);
    const cut = await get('/api/v1/hosts');
    const took = seconds(t0);
    thaw();
    assert.equal(cut.status, 504);
    const body = await cut.json();
    assert.equal(body.error.code, 'upstream_timeout');
    assert.match(body.error.message, /did not answer within 2 s/);
    assert.ok(took >= 1.9 && took < 3.9, `504 after ${took} s, expected 2 s`);
    // wait?timeout=3: 2 + 3 s; the control plane thaws after 4 s and its
    // answer (no such operation) passes.
    t0 = Date.now();
    thaw = freeze(4000);
    const waited = await get('/api/v1/operations/op-0123456789abcdef/wait?timeout=3');
    thaw();
    assert.equal(waited.status, 404, await waited.text());
    assert.ok(seconds(t0) >= 3.9, `answered after ${seconds(t0)} s while frozen for 4 s`);
    // ...and the same long-poll without a timeout has the control plane's
    // default (30 s) on top, so it passes too.
    thaw = freeze(4000);
    assert.equal((await get('/api/v1/operations/op-0123456789abcdef/wait')).status, 404);
    thaw();
    // Served as before.
    assert.equal((await get('/api/v1/hosts')).status, 200);
    assert.match(short.log, /GET \/v1\/hosts: the control plane did not answer within 2 s/);
  } finally {
    cp.proc.kill('SIGCONT');
    await short.cleanup();
  }
});

test('--api-timeout must be whole seconds from 1 to 3600', async () => {
  for (const bad of ['0', '-1', 'ten', '3601']) {
    const ui2 = new Webui(cp.base, { args: ['--api-timeout', bad] });
    await assert.rejects(ui2.start(), new RegExp(`setting 'api-timeout' must be whole seconds from 1 to 3600, got '${bad}'`));
  }
});
