// cumulus-webui: the dashboard's files and the control plane's API on one
// origin.  /api/<path> is the control plane's <path>: the same status and
// body for every method, the Authorization header and the body passed on,
// the query kept, streams passed as they come; a body over 8 MiB is refused without reaching the
// control plane; a control plane that is gone is a 502 in the API's error
// shape; files outside the dashboard's directory are not served.
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
