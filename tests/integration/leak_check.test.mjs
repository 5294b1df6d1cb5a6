// The daemons run leak-free: a control plane, an agent and the webui,
// built with AddressSanitizer (its LeakSanitizer) and UBSan, and a second
// webui built without sanitizers and run under valgrind's memcheck, are
// driven through a broad workout — every resource kind's API and its
// refusals, a tiny VM's life (create, consoles, screenshots, stats,
// snapshots and an image made from one, stop, start, reboot, delete),
// downloads that fail, a run and a bake cancelled, event streams, long
// polls, downloads and console viewers cut by the client midway, the
// webuis' files, /api and console relays, /metrics on each, TLS on a
// second control plane and webui — then stopped with SIGTERM while clients
// are still connected.  Each must exit 0 with no report on its stderr, and
// its leak check must be seen to have run in that very process
// (LeakSanitizer's log_threads, lib/sanitizer.mjs; valgrind's HEAP and
// LEAK SUMMARY), so a build without leak checking fails here instead of
// passing.  A webui with a leaking library preloaded (leak_canary.c) shows
// that a leak is caught and reported.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlPlane } from './lib/controlplane.mjs';
import { Agent, until } from './lib/agent.mjs';
import { Webui } from './lib/webui.mjs';
import { addTinyImage } from './lib/tiny_image.mjs';
import { serveDirectory } from './lib/imageserver.mjs';
import { makeKey } from './lib/keys.mjs';
import { wsConnect, rfbHandshake, rfbFramebuffer, decodePng } from './lib/vnc_ws.mjs';
import { LEAK_CHECK_ENV, leakCheckRan, sanitizerReport } from './lib/sanitizer.mjs';

const ROOT = new URL('../..', import.meta.url).pathname;
const BIN_DIR = process.env.CUMULUS_BIN_DIR ?? join(ROOT, 'build/bin');
const CANARY = join(BIN_DIR, '..', 'tests', 'libleak_canary.so');
// The webui built without sanitizers (valgrind cannot run an ASan build),
// in a build directory of its own beside the test build's bin/.
const PLAIN_DIR = join(BIN_DIR, '..', 'plain-webui');
const VALGRIND = ['valgrind', '--leak-check=full', '--show-leak-kinds=definite,indirect',
  '--errors-for-leak-kinds=definite,indirect', '--error-exitcode=99', '--num-callers=30'];

let dir, cp, agent, ui, vui, vm, images, orderToken;
let tcp, tui, ca; // the TLS pair

// Configured on the first run, brought up to date (seconds) on the next.
function buildPlainWebui() {
  const run = (args) => {
    const r = spawnSync('nice', ['cmake', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
    assert.equal(r.status, 0, `cmake ${args.join(' ')}:\n${(r.stdout + r.stderr).slice(-4000)}`);
  };
  if (!existsSync(join(PLAIN_DIR, 'CMakeCache.txt'))) run(['-S', ROOT, '-B', PLAIN_DIR, '-DCMAKE_BUILD_TYPE=Debug', '-DCUMULUS_SANITIZE=OFF']);
  run(['--build', PLAIN_DIR, '--target', 'cumulus-webui', '-j', String(availableParallelism())]);
  return join(PLAIN_DIR, 'bin', 'cumulus-webui');
}

before(async () => {
  const valgrind = spawnSync('valgrind', ['--version'], { encoding: 'utf8' });
  assert.equal(valgrind.status, 0, 'valgrind is needed to check the webui (apt-get install valgrind: DEB_test in scripts/lib/common.sh)');
  const plain = buildPlainWebui();
  dir = mkdtempSync(join(tmpdir(), 'cumulus-leaks-'));
  cp = await new ControlPlane({ env: LEAK_CHECK_ENV }).start();
  agent = await new Agent(cp, { env: LEAK_CHECK_ENV }).start();
  ui = await new Webui(cp.base, { env: LEAK_CHECK_ENV }).start();
  vui = await new Webui(cp.base, { command: [...VALGRIND, plain], args: ['--static-dir', join(BIN_DIR, '..', 'share/cumulus/webui')] }).start();
  // TLS: a control plane and a webui of their own (the agent's TLS is
  // tls.test.mjs's); certificates from scripts/make-certs.
  const certs = join(dir, 'certs');
  execFileSync(join(ROOT, 'scripts/make-certs'), ['--out', certs, 'cp.test,127.0.0.1', 'ui.test,127.0.0.1'], { stdio: 'pipe' });
  ca = readFileSync(join(certs, 'ca.crt'));
  const tlsArgs = (n) => ['--tls-cert', join(certs, `${n}.crt`), '--tls-key', join(certs, `${n}.key`), '--tls-ca', join(certs, 'ca.crt')];
  tcp = await new ControlPlane({ env: LEAK_CHECK_ENV, extraArgs: tlsArgs('cp.test'), ca }).start();
  tui = await new Webui(tcp.base, { env: LEAK_CHECK_ENV, args: tlsArgs('ui.test') }).start();
  images = await serveDirectory(dir);
  await until('the host to join', async () => (await cp.get('/v1/hosts')).body.hosts.find((h) => h.state === 'up'));
  orderToken = JSON.parse(readFileSync(join(agent.dataDir, 'credentials.json'), 'utf8')).order_token;
  await addTinyImage(cp);
});

after(async () => {
  // Already stopped by the last test when all went well; else stopped and
  // judged here (the libraries fail the file on a report).
  await tui?.cleanup();
  await tcp?.cleanup();
  await vui?.cleanup();
  await ui?.cleanup();
  await agent?.cleanup();
  await cp?.cleanup();
  await images?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// ---- clients -----------------------------------------------------------

const agentBase = () => `http://127.0.0.1:${agent.port}`;

// One request with node's http or https (trusting `ca`): { status, type,
// text, json }.  `raw`: a body sent as is.
function call(url, { method = 'GET', token, body, raw, headers = {}, ca: trust } = {}) {
  const h = { ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  const payload = raw ?? (body === undefined ? undefined : JSON.stringify(body));
  if (payload !== undefined) h['Content-Type'] ??= 'application/json';
  const send = url.startsWith('https:') ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, { method, headers: h, ca: trust, timeout: 30000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, type: res.headers['content-type'], text, json, bytes: Buffer.concat(chunks) });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer in 30 s`)));
    req.on('error', reject);
    req.end(payload);
  });
}

// A request whose client goes away: after `bytes` of the answer's body
// have come (0: once its headers have), or after `ms` with no answer yet.
// Resolves with the status seen (0 if none) and the bytes read.
function cut(url, { method = 'GET', token, headers = {}, bytes = 1, ms = 10000, ca: trust } = {}) {
  const h = { ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  const send = url.startsWith('https:') ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    let status = 0, got = 0;
    const req = send(url, { method, headers: h, ca: trust });
    const go = () => { clearTimeout(timer); req.destroy(); resolve({ status, got }); };
    const timer = setTimeout(go, ms);
    req.on('response', (res) => {
      status = res.statusCode;
      if (bytes === 0) { go(); return; }
      res.on('data', (c) => { got += c.length; if (got >= bytes) go(); });
      res.on('end', go);
    });
    req.on('error', go);
    req.end();
  });
}

// Raw bytes to a daemon's port (over TLS with `ca`), then the connection
// dropped: after `ms`, or once something came back if `ms` is 0.
function rawThenDrop(port, bytes, { ms = 300, ca: trust } = {}) {
  return new Promise((resolve) => {
    const socket = trust ? tls.connect({ host: '127.0.0.1', port, ca: trust, servername: 'localhost', rejectUnauthorized: false })
      : net.connect(port, '127.0.0.1');
    const done = () => { clearTimeout(timer); socket.destroy(); resolve(); };
    const timer = setTimeout(done, ms || 5000);
    socket.on(trust ? 'secureConnect' : 'connect', () => { if (bytes) socket.write(bytes); });
    socket.on('data', () => { if (!ms) done(); });
    socket.on('error', done);
  });
}

const cpCall = (path, opts = {}) => call(cp.base + path, { token: cp.token, ...opts });
const uiCall = (path, opts = {}, w = ui) => call(w.base + path, { token: cp.token, ...opts });
const agentCall = (path, opts = {}) => call(agentBase() + path, { token: orderToken, ...opts });

function expect(r, status, what) {
  assert.equal(r.status, status, `${what}: ${r.text?.slice(0, 500)}`);
  if (status >= 400) assert.ok(r.json?.error?.message, `${what}: an error in the API's shape: ${r.text?.slice(0, 500)}`);
  return r.json;
}

async function succeeded(op, timeout = 300) {
  const done = await cp.finished(op, timeout);
  assert.equal(done.status, 'succeeded', `${JSON.stringify(done)}\n${agent.log.slice(-3000)}`);
  return done;
}

async function accepted(promise, what) {
  const r = await promise;
  assert.equal(r.status, 202, `${what}: ${JSON.stringify(r.body)}`);
  return r.body;
}

// ---- leak checking is on -------------------------------------------------

const daemons = () => [['the control plane', cp], ['the agent', agent], ['the webui', ui], ['the TLS control plane', tcp], ['the TLS webui', tui]];

test('leak checking is on in every daemon (else this test could not see a leak): ASan\'s LeakSanitizer, or valgrind', () => {
  for (const [what, d] of daemons()) {
    const maps = readFileSync(`/proc/${d.proc.pid}/maps`, 'utf8');
    assert.match(maps, /libasan\.so/, `${what} (pid ${d.proc.pid}) has no AddressSanitizer runtime: leak checking is not active. `
      + 'Build with -DCUMULUS_SANITIZE=ON (scripts/test does) and run this test on that build.');
    const env = readFileSync(`/proc/${d.proc.pid}/environ`, 'utf8').split('\0');
    assert.ok(env.includes(`ASAN_OPTIONS=${LEAK_CHECK_ENV.ASAN_OPTIONS}`), `${what} runs with ASAN_OPTIONS=${LEAK_CHECK_ENV.ASAN_OPTIONS}`);
    assert.ok(env.includes(`LSAN_OPTIONS=${LEAK_CHECK_ENV.LSAN_OPTIONS}`), `${what} runs with LSAN_OPTIONS=${LEAK_CHECK_ENV.LSAN_OPTIONS}`);
  }
  const maps = readFileSync(`/proc/${vui.proc.pid}/maps`, 'utf8');
  assert.match(maps, /vgpreload_memcheck/, 'the plain webui runs under valgrind\'s memcheck');
  assert.doesNotMatch(maps, /libasan\.so/, 'the webui under valgrind is a build without sanitizers');
});

test('a leak is caught: a webui with a leaking library preloaded fails the check', async () => {
  assert.ok(existsSync(CANARY), `${CANARY} is missing: it is built with the tests (tests/CMakeLists.txt)`);
  const leaky = await new Webui(cp.base, {
    env: { ...LEAK_CHECK_ENV, LD_PRELOAD: CANARY, ASAN_OPTIONS: `${LEAK_CHECK_ENV.ASAN_OPTIONS}:verify_asan_link_order=0` },
  }).start();
  leaky.proc.kill('SIGTERM');
  const { code } = await leaky.exited;
  await until('its stderr to end', () => leaky.proc.stderr.readableEnded, 5000, 50);
  assert.notEqual(code, 0, `not 0, as with a leak: ${leaky.log.slice(-3000)}`);
  assert.match(sanitizerReport(leaky.log) ?? '', /ERROR: LeakSanitizer: detected memory leaks[^]*leak_canary/);
  assert.ok(leakCheckRan(leaky.log, leaky.proc.pid), 'its leak check logged its threads');
});

// ---- the control plane's API --------------------------------------------

test('the API: every resource kind made, read, listed and deleted, and every kind of refusal', async () => {
  expect(await cpCall('/v1/health', { token: null }), 200, 'health');
  assert.ok(expect(await cpCall('/v1/openapi.json'), 200, 'openapi').paths);
  // sizes
  expect(await cpCall('/v1/sizes', { method: 'POST', body: { name: 'leak-size', vcpus: 1, memory_mib: 256, disk_gib: 2 } }), 201, 'size');
  expect(await cpCall('/v1/sizes/leak-size'), 200, 'size get');
  assert.ok(expect(await cpCall('/v1/sizes?limit=2'), 200, 'sizes').sizes.length <= 2);
  expect(await cpCall('/v1/sizes', { method: 'POST', body: { name: 'leak-size', vcpus: 1, memory_mib: 256, disk_gib: 2 } }), 409, 'size twice');
  expect(await cpCall('/v1/sizes', { method: 'POST', body: { name: 'x', vcpus: 'one', memory_mib: 1, disk_gib: 1 } }), 400, 'size mistyped');
  expect(await cpCall('/v1/sizes/leak-size', { method: 'DELETE' }), 204, 'size delete');
  // SSH keys
  const { publicKey } = makeKey('rsa');
  expect(await cpCall('/v1/ssh-keys', { method: 'POST', body: { name: 'leak-key', public_key: publicKey } }), 201, 'key');
  expect(await cpCall('/v1/ssh-keys/leak-key'), 200, 'key get');
  expect(await cpCall('/v1/ssh-keys'), 200, 'keys');
  expect(await cpCall('/v1/ssh-keys', { method: 'POST', body: { name: 'bad-key', public_key: 'ssh-ed25519 AAAAnotbase64!' } }), 400, 'bad key');
  expect(await cpCall('/v1/ssh-keys/leak-key', { method: 'DELETE' }), 204, 'key delete');
  // images: by URL, imported (before), refused
  const image = { name: 'leak-image', os: 'debian', version: '12', architecture: 'x86_64', url: 'http://127.0.0.1:9/x.qcow2', checksum: `sha256:${'1'.repeat(64)}`, login_user: 'debian' };
  expect(await cpCall('/v1/images', { method: 'POST', body: image }), 201, 'image');
  expect(await cpCall('/v1/images/leak-image'), 200, 'image get');
  expect(await cpCall('/v1/images?limit=1'), 200, 'images');
  expect(await cpCall('/v1/images', { method: 'POST', body: { ...image, name: 'other', url: 'ftp://h/x.qcow2' } }), 400, 'image URL');
  expect(await cpCall('/v1/images/import', { method: 'POST', body: { manifest: join(dir, 'no-such.json') } }), 400, 'import');
  expect(await cpCall('/v1/images/leak-image', { method: 'DELETE' }), 204, 'image delete');
  // hosts
  const host = expect(await cpCall('/v1/hosts/host-1'), 200, 'host');
  assert.equal(host.state, 'up');
  assert.equal(expect(await cpCall('/v1/hosts/host-1/actions', { method: 'POST', body: { type: 'drain' } }), 200, 'drain').drained, true);
  assert.equal(expect(await cpCall('/v1/hosts/host-1/actions', { method: 'POST', body: { type: 'return' } }), 200, 'return').drained, false);
  expect(await cpCall('/v1/hosts/host-1/actions', { method: 'POST', body: { type: 'explode' } }), 400, 'host action');
  // operations and events
  const ops = expect(await cpCall('/v1/operations?limit=5'), 200, 'operations').operations;
  expect(await cpCall('/v1/operations/op-nope'), 404, 'operation');
  if (ops[0]) expect(await cpCall(`/v1/operations/${ops[0].id}/wait?timeout=1`), 200, 'wait');
  assert.ok(expect(await cpCall('/v1/events?limit=3&type=image.'), 200, 'events').events.length > 0);
  expect(await cpCall('/v1/events?after=banana'), 400, 'events query');
  // refusals: not found, no or wrong token, bad JSON, unknown fields, too big, bad method
  for (const path of ['/v1/sizes/nope', '/v1/images/nope', '/v1/ssh-keys/nope', '/v1/hosts/nope', '/v1/vms/nope',
    '/v1/vms/nope/snapshots', '/v1/runs/nope', '/v1/no-such-thing']) {
    expect(await cpCall(path), 404, path);
  }
  expect(await cpCall('/v1/vms', { token: null }), 401, 'no token');
  expect(await cpCall('/v1/hosts/join', { method: 'POST', body: { name: 'intruder' }, token: 'cujoin_wrong' }), 401, 'a wrong join token');
  const beat = await cpCall(`/v1/hosts/${host.id}/heartbeat`, { method: 'POST', body: { vms: [] } });
  assert.ok([401, 403].includes(beat.status), `a heartbeat with the admin token: ${beat.text}`);
  expect(await cpCall('/v1/vms', { token: 'cuadm_wrong' }), 401, 'wrong token');
  expect(await cpCall('/v1/vms', { headers: { Authorization: 'Basic eDp4' }, token: null }), 401, 'not a bearer');
  expect(await cpCall('/v1/vms', { method: 'POST', raw: '{"name": "x", ' }), 400, 'bad JSON');
  expect(await cpCall('/v1/vms', { method: 'POST', raw: '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[' }), 400, 'deep JSON');
  expect(await cpCall('/v1/vms', { method: 'POST', body: { name: 'x', size: 't-128mb', image: 'tiny-amd64', ssh_keys: ['tester'], colour: 'red' } }), 400, 'unknown field');
  expect(await cpCall('/v1/ssh-keys', { method: 'POST', raw: JSON.stringify({ name: 'big', public_key: 'x'.repeat(2 << 20) }) }), 413, 'too big');
  const wrongMethod = await cpCall('/v1/sizes', { method: 'PUT', body: {} });
  assert.ok([404, 405].includes(wrongMethod.status), wrongMethod.text);
  // clients that go: mid-body, mid-headers, before the answer
  await rawThenDrop(cp.port, 'POST /v1/ssh-keys HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{"name": "half');
  await rawThenDrop(cp.port, 'GET /v1/vms HTTP/1.1\r\nHost: x\r\nAuthor');
  await rawThenDrop(cp.port, `GET /v1/openapi.json HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${cp.token}\r\n\r\n`, { ms: 0 });
  expect(await cpCall('/v1/health', { token: null }), 200, 'health after them');
});

// ---- a VM, its consoles and its snapshots ----------------------------------

test('a tiny VM: made, screenshots, stats, cloud-init, stopped, started, rebooted', async () => {
  const made = await accepted(cp.post('/v1/vms', { name: 'leaky', size: 't-128mb', image: 'tiny-amd64', ssh_keys: ['tester'] }), 'create');
  await succeeded(made.operation);
  vm = (await cp.get('/v1/vms/leaky')).body;
  assert.equal(vm.state, 'running');
  expect(await cpCall('/v1/vms?limit=10'), 200, 'vms');
  expect(await cpCall('/v1/vms', { method: 'POST', body: { name: 'leaky', size: 't-128mb', image: 'tiny-amd64', ssh_keys: ['tester'] } }), 409, 'a name twice');
  assert.match(expect(await cpCall(`/v1/vms/${vm.id}/cloud-init`), 200, 'cloud-init').user_data ?? '', /cloud-config/);
  assert.ok(expect(await cpCall(`/v1/vms/${vm.id}/stats`), 200, 'stats').cpu_seconds >= 0);
  const png = await cpCall(`/v1/vms/${vm.id}/screenshot?size=64`);
  assert.equal(png.status, 200, png.text);
  assert.equal(decodePng(png.bytes).width, 64);
  expect(await cpCall(`/v1/vms/${vm.id}/screenshot?size=1`), 400, 'screenshot size');
  // The agent's own API, with the order token.
  expect(await agentCall('/v1/health', { token: null }), 200, 'agent health');
  expect(await agentCall('/v1/vms'), 200, 'agent vms');
  expect(await agentCall(`/v1/vms/${vm.id}`), 200, 'agent vm');
  expect(await agentCall(`/v1/vms/${vm.id}/stats`), 200, 'agent stats');
  assert.equal((await agentCall(`/v1/vms/${vm.id}/screenshot?size=32`)).status, 200);
  expect(await agentCall('/v1/vms/vm-nope'), 404, 'agent 404');
  expect(await agentCall(`/v1/vms/${vm.id}/exports/img-nope`), 404, 'agent export 404');
  expect(await agentCall('/v1/vms', { token: null }), 401, 'agent no token');
  expect(await agentCall('/v1/vms', { token: 'cuord_wrong' }), 401, 'agent wrong token');
  expect(await agentCall('/v1/vms/vm-x', { method: 'PUT', raw: '{"spec": ' }), 400, 'agent bad JSON');
  expect(await agentCall('/v1/vms/vm-x', { method: 'PUT', raw: `{"x": "${'y'.repeat(2 << 20)}"}` }), 413, 'agent too big');
  await rawThenDrop(agent.port, 'PUT /v1/vms/vm-x HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{"id"');
  // Stop, start, reboot (a viewer of the screen is on while it stops).
  const viewer = await openConsole(vm, 'vnc');
  await rfbHandshake(viewer.ws);
  await succeeded((await accepted(cp.post(`/v1/vms/${vm.id}/actions`, { type: 'stop' }), 'stop')).operation);
  assert.ok(await viewer.ws.waitClosed(30000), 'the viewer is let go when QEMU stops');
  expect(await cpCall(`/v1/vms/${vm.id}/stats`), 409, 'stats of a stopped VM');
  expect(await cpCall(`/v1/vms/${vm.id}/console`, { method: 'POST', body: { type: 'vnc' } }), 409, 'console of a stopped VM');
  await succeeded((await accepted(cp.post(`/v1/vms/${vm.id}/actions`, { type: 'start' }), 'start')).operation);
  await succeeded((await accepted(cp.post(`/v1/vms/${vm.id}/actions`, { type: 'reboot' }), 'reboot')).operation);
  expect(await cpCall(`/v1/vms/${vm.id}/actions`, { method: 'POST', body: { type: 'explode' } }), 400, 'action');
});

// A console asked for straight from the control plane: { url, ws }.
async function openConsole(v, type) {
  const c = expect(await cpCall(`/v1/vms/${v.id}/console`, { method: 'POST', body: { type } }), 200, `${type} console`);
  const r = await wsConnect(c.url);
  assert.ok(r.ok, JSON.stringify(r));
  return { ...c, ws: r.ws };
}

test('consoles at the agent: viewers of the screen and the serial port, some closing abruptly mid-stream', async () => {
  const a = await openConsole(vm, 'vnc');
  const init = await rfbHandshake(a.ws);
  const b = await openConsole(vm, 'vnc');
  await rfbHandshake(b.ws);
  await rfbFramebuffer(a.ws, init);
  // b asks for the whole screen and vanishes without a close frame while it comes.
  b.ws.send(Buffer.from([3, 0, 0, 0, 0, 0, init.width >> 8, init.width & 255, init.height >> 8, init.height & 255]));
  b.ws.socket.destroy();
  a.ws.close();
  const s = await openConsole(vm, 'serial');
  await s.ws.readUntil(/tiny test guest/);
  s.ws.send(Buffer.from('leak check\r'));
  await s.ws.readUntil(/you typed: leak check\r?\n/);
  const s2 = await openConsole(vm, 'serial');
  s2.ws.send(Buffer.from('gone\r'));
  s2.ws.socket.destroy();
  s.ws.socket.destroy();
  // Refused before the upgrade: no ticket, a used one, a wrong one.
  const used = await openConsole(vm, 'vnc');
  used.ws.close();
  for (const url of [used.url, used.url.replace(/ticket=.*/, ''), used.url.replace(/ticket=/, 'ticket=x'), used.url.replace('/vnc?', '/serial?')]) {
    const r = await wsConnect(url);
    if (r.ok) r.ws.close();
    assert.equal(r.ok, false, url);
  }
  // A websocket that goes right after the upgrade.
  const quick = await openConsole(vm, 'vnc');
  quick.ws.socket.destroy();
  await until('the agent to log the viewers leaving', () => (agent.log.match(/left|closed/g) ?? []).length > 0, 10000);
});

test('snapshots: taken, listed, restored, made into an image (its download cut midway), deleted', async () => {
  const snap = async (body) => {
    const r = await accepted(cp.post(`/v1/vms/${vm.id}/snapshots`, body), 'snapshot');
    await succeeded(r.operation);
    return r.snapshot;
  };
  const disk = await snap({ name: 'disk' });
  const mem = await snap({ name: 'memory', memory: true });
  expect(await cpCall(`/v1/vms/${vm.id}/snapshots`), 200, 'snapshots');
  expect(await cpCall(`/v1/vms/${vm.id}/snapshots/${mem.id}`), 200, 'snapshot');
  expect(await cpCall(`/v1/vms/${vm.id}/snapshots`, { method: 'POST', body: { name: 'disk' } }), 409, 'a snapshot name twice');
  await succeeded((await accepted(cp.post(`/v1/vms/${vm.id}/snapshots/${mem.id}/restore`, { safety_snapshot: false }), 'restore')).operation);
  const made = await accepted(cp.post(`/v1/snapshots/${disk.id}/image`, { name: 'from-snapshot' }), 'image from a snapshot');
  await succeeded(made.operation);
  const img = expect(await cpCall('/v1/images/from-snapshot'), 200, 'the image');
  assert.equal(img.state, 'ready');
  const file = await cut(cp.base + img.url, { token: cp.token, bytes: 1 });
  assert.equal(file.status, 200);
  expect(await cpCall('/v1/images/from-snapshot', { method: 'DELETE' }), 204, 'its delete');
  for (const s of [disk, mem]) {
    await succeeded((await accepted(cp.del(`/v1/vms/${vm.id}/snapshots/${s.id}`), 'snapshot delete')).operation);
  }
  expect(await cpCall(`/v1/vms/${vm.id}/snapshots/nope`), 404, 'snapshot 404');
});

test('work that fails or is cancelled: downloads refused, a VM deleted while it boots, a run and a bake cancelled', async () => {
  // An image that is not there (404: not tried again), and one whose bytes
  // are not its checksum's.
  writeFileSync(join(dir, 'liar.qcow2'), 'not the bytes the checksum says\n');
  const liar = { os: 'debian', version: '12', architecture: 'x86_64', checksum: `sha256:${'2'.repeat(64)}`, login_user: 'debian' };
  expect(await cpCall('/v1/images', { method: 'POST', body: { ...liar, name: 'gone', url: images.url('gone.qcow2') } }), 201, 'gone');
  expect(await cpCall('/v1/images', { method: 'POST', body: { ...liar, name: 'liar', url: images.url('liar.qcow2') } }), 201, 'liar');
  for (const image of ['gone', 'liar']) {
    const r = await accepted(cp.post('/v1/vms', { name: `from-${image}`, size: 't-128mb', image, ssh_keys: ['tester'] }), image);
    const done = await cp.finished(r.operation, 120);
    assert.equal(done.status, 'failed', JSON.stringify(done));
    await cp.finished((await accepted(cp.del(`/v1/vms/from-${image}`), 'delete')).operation, 120);
  }
  // A VM deleted while it boots.
  const doomed = await accepted(cp.post('/v1/vms', { name: 'doomed', size: 't-128mb', image: 'tiny-amd64', ssh_keys: ['tester'] }), 'doomed');
  await until('it to be on its way', async () => (await cp.get(`/v1/operations/${doomed.operation.id}`)).body.status === 'running', 30000, 100);
  await succeeded((await accepted(cp.del('/v1/vms/doomed'), 'delete')).operation);
  // A run (the tiny guest has no SSH: it waits), followed, then cancelled.
  const run = await accepted(cp.post('/v1/runs', { image: 'tiny-amd64', size: 't-128mb', command: 'true', timeout: 60 }), 'run');
  expect(await cpCall(`/v1/runs/${run.run.id}`), 200, 'run');
  expect(await cpCall('/v1/runs'), 200, 'runs');
  await cut(`${cp.base}/v1/runs/${run.run.id}/output?follow=true`, { token: cp.token, ms: 500 });
  await cut(`${ui.base}/api/v1/runs/${run.run.id}/output?follow=true`, { token: cp.token, ms: 500 });
  expect(await cpCall(`/v1/runs/${run.run.id}`, { method: 'DELETE' }), 202, 'run cancel');
  // A bake, its operation long-polled by clients that go, then cancelled.
  const bake = await accepted(cp.post('/v1/images/bake', { name: 'half-baked', image: 'tiny-amd64', size: 't-128mb', user_data: '#cloud-config\n' }), 'bake');
  await cut(`${cp.base}/v1/operations/${bake.operation.id}/wait?timeout=30`, { token: cp.token, ms: 500 });
  await cut(`${ui.base}/api/v1/operations/${bake.operation.id}/wait?timeout=30`, { token: cp.token, ms: 500 });
  expect(await cpCall('/v1/images/half-baked', { method: 'DELETE' }), 204, 'bake cancel');
  await until('the run and the bake to end', async () => {
    const r = (await cp.get(`/v1/runs/${run.run.id}`)).body;
    const b = (await cp.get(`/v1/operations/${bake.operation.id}`)).body;
    return !['pending', 'booting', 'copying', 'running', 'destroying'].includes(r.state) && ['succeeded', 'failed'].includes(b.status);
  }, 120000, 500);
  await until('their VMs to be gone', async () => (await cp.get('/v1/vms')).body.vms.length === 1, 120000, 500);
});

// ---- event streams ------------------------------------------------------

test('event streams cut by the client midway, on the control plane and through both webuis', async () => {
  const last = (await cp.get('/v1/events?limit=1000')).body.events.at(-1).seq;
  for (const base of [cp.base, `${ui.base}/api`, `${vui.base}/api`]) {
    await cut(`${base}/v1/events?follow=true`, { token: cp.token, bytes: 1 });
    await cut(`${base}/v1/events?follow=true&after=${last - 5}`, { token: cp.token, bytes: 200, ms: 1000 });
    await cut(`${base}/v1/events?follow=true&type=vm.`, { token: cp.token, headers: { 'Last-Event-ID': String(last - 20) }, bytes: 50, ms: 1000 });
    await cut(`${base}/v1/events?follow=true`, { token: cp.token, bytes: 0 });
    // One open while events come, then cut.
    const stream = cut(`${base}/v1/events?follow=true`, { token: cp.token, bytes: 1 << 20, ms: 1000 });
    expect(await cpCall('/v1/sizes', { method: 'POST', body: { name: 'ev-size', vcpus: 1, memory_mib: 128, disk_gib: 1 } }), 201, 'an event');
    expect(await cpCall('/v1/sizes/ev-size', { method: 'DELETE' }), 204, 'another');
    assert.equal((await stream).status, 200);
  }
});

// ---- the webui ----------------------------------------------------------

// Both webuis, the ASan build and the plain one under valgrind, go
// through the same workout.
const webuis = [['the webui', () => ui], ['the webui under valgrind', () => vui]];

async function webuiWorkout(w) {
  const get = (path, opts = {}) => call(w.base + path, { token: cp.token, ...opts });
  assert.match((await get('/', { token: null })).text, /<title>Cumulus<\/title>/);
  expect(await get('/app.js', { token: null }), 200, 'app.js');
  assert.equal((await get('/no-such.js', { token: null })).status, 404);
  assert.equal((await get('/vendor/xterm/xterm.js', { method: 'HEAD', token: null })).status, 200);
  await cut(`${w.base}/vendor/xterm/xterm.js`, { bytes: 1 });
  await rawThenDrop(w.port, 'GET /../../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n', { ms: 0 });
  // /api: reads, writes, refusals, as the control plane answers them.
  expect(await get('/api/v1/sizes'), 200, '/api read');
  const key = makeKey().publicKey;
  expect(await get('/api/v1/ssh-keys', { method: 'POST', body: { name: 'via-ui', public_key: key } }), 201, '/api write');
  expect(await get('/api/v1/ssh-keys/via-ui', { method: 'DELETE' }), 204, '/api delete');
  expect(await get('/api/v1/ssh-keys', { method: 'POST', raw: '{"name": ' }), 400, '/api bad JSON');
  expect(await get('/api/v1/vms/nope'), 404, '/api 404');
  expect(await get('/api/v1/vms', { token: null }), 401, '/api no token');
  expect(await get('/api/v1/ssh-keys', { method: 'POST', raw: JSON.stringify({ name: 'big', public_key: 'x'.repeat(9 << 20) }) }), 413, '/api too big');
  assert.equal((await get('/api/v1/operations?target=a%26b&limit=2')).status, 400);
  // Clients that go: mid-download of a large answer (the tiny image's
  // kernel, 14 MB), before a long poll answers, mid-body, mid-headers.
  const vmlinuz = `${w.base}/api${(await cp.get('/v1/images/tiny-amd64')).body.kernel.url}`;
  assert.equal((await cut(vmlinuz, { token: cp.token, bytes: 64 * 1024 })).status, 200);
  await cut(vmlinuz, { token: cp.token, bytes: 0 });
  await cut(`${w.base}/api/v1/openapi.json`, { token: cp.token, bytes: 1 });
  await rawThenDrop(w.port, `POST /api/v1/ssh-keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${cp.token}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"name"`);
  await rawThenDrop(w.port, `POST /api/v1/ssh-keys HTTP/1.1\r\nHost: x\r\nContent-Length: 20000000\r\n\r\n${'x'.repeat(60000)}`);
  await rawThenDrop(w.port, 'GET /api/v1/vms HTTP/1.1\r\nHost: x\r\nAuthoriz');
  expect(await get('/api/v1/vms'), 200, '/api after them');
  // /metrics asks the control plane about the token.
  assert.equal((await get('/metrics')).status, 200);
  assert.equal((await get('/metrics', { token: null })).status, 401);
  assert.equal((await get('/metrics', { token: 'cuadm_wrong' })).status, 401);
  assert.equal((await get('/metrics', { method: 'POST' })).status, 405);
}

// A console asked for through the webui's /api: { proxy_path, ... }.
async function viaUi(w, type) {
  return expect(await uiCall(`/api/v1/vms/${vm.name}/console`, { method: 'POST', body: { type } }, w), 200, `${type} console via the webui`);
}
const relay = (w, path, opts = {}) => wsConnect(`ws://127.0.0.1:${w.port}${path}`, { origin: w.base, ...opts });

async function relayWorkout(w) {
  const a = await relay(w, (await viaUi(w, 'vnc')).proxy_path);
  assert.ok(a.ok, JSON.stringify(a));
  const init = await rfbHandshake(a.ws);
  await rfbFramebuffer(a.ws, init);
  const b = await relay(w, (await viaUi(w, 'vnc')).proxy_path);
  assert.ok(b.ok);
  await rfbHandshake(b.ws);
  b.ws.send(Buffer.from([3, 0, 0, 0, 0, 0, init.width >> 8, init.width & 255, init.height >> 8, init.height & 255]));
  b.ws.socket.destroy(); // mid-frame, no close frame
  a.ws.close();
  const s = await relay(w, (await viaUi(w, 'serial')).proxy_path);
  assert.ok(s.ok);
  await s.ws.readUntil(/tiny test guest/);
  s.ws.send(Buffer.from('relayed\r'));
  await s.ws.readUntil(/you typed: relayed\r?\n/);
  s.ws.socket.destroy();
  // Gone right after the upgrade, before the webui has reached the host.
  const quick = await relay(w, (await viaUi(w, 'serial')).proxy_path);
  assert.ok(quick.ok);
  quick.ws.socket.destroy();
  // Refused: a ticket the webui did not see, one used, a foreign Origin, no ticket;
  // and one the host refuses (used at the agent first) closes with the reason.
  const direct = expect(await cpCall(`/v1/vms/${vm.id}/console`, { method: 'POST', body: { type: 'vnc' } }), 200, 'direct');
  const foreign = await viaUi(w, 'vnc');
  for (const [path, opts] of [[`/console/v1/vms/${vm.id}/vnc?ticket=${direct.ticket}`], [`/console/v1/vms/${vm.id}/vnc`],
    [foreign.proxy_path, { origin: 'http://evil.example' }], [foreign.proxy_path.replace('/vnc?', '/serial?')], [foreign.proxy_path]]) {
    const r = await relay(w, path, opts);
    if (r.ok) r.ws.close();
    assert.equal(r.ok, false, path);
  }
  const spent = await viaUi(w, 'vnc');
  const first = await wsConnect(spent.url);
  first.ws.close();
  const r = await relay(w, spent.proxy_path);
  assert.ok(r.ok);
  assert.match((await r.ws.waitClosed(10000))?.reason ?? '', /refused/);
  // A screenshot through /api.
  const png = await uiCall(`/api/v1/vms/${vm.name}/screenshot?size=48`, {}, w);
  assert.equal(png.status, 200);
  assert.equal(decodePng(png.bytes).width, 48);
}

for (const [what, w] of webuis) {
  test(`${what}: its files, /api with every kind of answer, clients that go mid-response`, () => webuiWorkout(w()));
  test(`${what}: console relays, screens and serial ports, viewers closing abruptly, refusals`, () => relayWorkout(w()));
}

// ---- /metrics -----------------------------------------------------------

test('/metrics on each daemon, and its refusals', async () => {
  for (const [what, r] of [['control plane', await cpCall('/metrics')], ['agent', await agentCall('/metrics')], ['webui', await uiCall('/metrics')], ['webui under valgrind', await uiCall('/metrics', {}, vui)]]) {
    assert.equal(r.status, 200, `${what}: ${r.text}`);
    assert.match(r.text, /^# TYPE /m, what);
  }
  expect(await cpCall('/metrics', { token: null }), 401, 'control plane /metrics without a token');
  assert.equal((await agentCall('/metrics', { token: cp.token })).status, 401, 'the agent takes no admin token');
});

// ---- TLS ----------------------------------------------------------------

test('TLS: the API and the webui over HTTPS, /api over TLS to the control plane, clients that go mid-handshake', async () => {
  const t = (path, opts = {}) => call(tcp.base + path, { token: tcp.token, ca, ...opts });
  expect(await t('/v1/health'), 200, 'https health');
  expect(await t('/v1/sizes', { method: 'POST', body: { name: 'tls-size', vcpus: 1, memory_mib: 128, disk_gib: 1 } }), 201, 'https write');
  expect(await t('/v1/sizes', { method: 'POST', raw: '{' }), 400, 'https bad JSON');
  expect(await t('/v1/vms', { token: null }), 401, 'https no token');
  expect(await t('/metrics'), 200, 'https metrics');
  const u = (path, opts = {}) => call(tui.base + path, { token: tcp.token, ca, ...opts });
  assert.match((await u('/', { token: null })).text, /<title>Cumulus<\/title>/);
  expect(await u('/api/v1/sizes/tls-size'), 200, '/api over TLS');
  expect(await u('/api/v1/sizes/nope'), 404, '/api 404 over TLS');
  assert.equal((await u('/metrics')).status, 200);
  await cut(`${tui.base}/api/v1/events?follow=true`, { token: tcp.token, ca, bytes: 1 });
  await cut(`${tui.base}/vendor/xterm/xterm.js`, { ca, bytes: 1 });
  await cut(`${tcp.base}/v1/events?follow=true`, { token: tcp.token, ca, bytes: 1 });
  // Plain HTTP to TLS ports; TLS clients that go before or after the handshake.
  for (const port of [tcp.port, tui.port]) {
    await rawThenDrop(port, 'GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n');
    await rawThenDrop(port, Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x01])); // half a ClientHello
    await rawThenDrop(port, 'GET / HTTP/1.1\r\nHost: x\r\n', { ca });
  }
  expect(await u('/api/v1/vms'), 200, 'the TLS webui after them');
});

// ---- stops and starts ------------------------------------------------------

// Null when valgrind's memcheck (its lines start ==PID==) looked for
// leaks at the exit of process `pid` and found no error; else why not.
function valgrindVerdict(log, pid) {
  const mine = log.split('\n').filter((l) => l.startsWith(`==${pid}==`)).join('\n');
  if (!/HEAP SUMMARY:/.test(mine) || !/All heap blocks were freed|LEAK SUMMARY:/.test(mine)) {
    return `valgrind did not check for leaks at its exit: ${mine.slice(-2000) || log.slice(-2000)}`;
  }
  return /ERROR SUMMARY: 0 errors/.test(mine) ? null : mine;
}

// Stops daemon `d` with SIGTERM: null when it exited 0, its leak check
// ran in it and found nothing; else why not.
async function stopClean(what, d) {
  const pid = d.proc.pid;
  const { code, signal } = await d.stop('SIGTERM');
  await until(`${what}'s stderr to end`, () => d.proc.stderr.readableEnded, 10000, 50);
  if (d === vui) {
    const verdict = valgrindVerdict(d.log, pid);
    return verdict || code !== 0 ? `${what} exited with ${code ?? signal}: ${verdict ?? d.log.slice(-3000)}` : null;
  }
  const report = sanitizerReport(d.log);
  if (report) return `${what}: ${report}`;
  if (code !== 0) return `${what} exited with ${code ?? signal} on SIGTERM:\n${d.log.slice(-3000)}`;
  if (!leakCheckRan(d.log, pid)) {
    return `${what} (pid ${pid}) exited 0 but its leak check did not run (no "Processing thread ${pid}." from `
      + `LeakSanitizer's log_threads): leaks would go unseen. Its stderr ends:\n${d.log.slice(-2000)}`;
  }
  return null;
}

test('the agent and the control plane stopped and started again: clean exits, the VM re-adopted and still served', async () => {
  const qemu = agent.vmState(vm.id).pid;
  for (const [what, d] of [['the agent', agent], ['the control plane', cp]]) {
    const failure = await stopClean(what, d);
    if (failure) assert.fail(failure);
    await d.start();
  }
  // The agent's console listener has a new port, told in its next heartbeat.
  const restarted = Date.now();
  await until('a heartbeat from the agent', async () => {
    const host = (await cp.get('/v1/hosts/host-1')).body;
    return host.state === 'up' && Date.parse(host.last_heartbeat) > restarted;
  }, 30000);
  await until('the agent to take its running VM back', () => agent.log.includes(`VM ${vm.id}: re-adopted QEMU pid ${qemu}`), 10000);
  assert.equal(expect(await cpCall(`/v1/vms/${vm.id}`), 200, 'the VM').state, 'running');
  orderToken = JSON.parse(readFileSync(join(agent.dataDir, 'credentials.json'), 'utf8')).order_token;
  const s = await openConsole(vm, 'serial');
  await s.ws.readUntil(/tiny test guest/);
  s.ws.close();
  expect(await uiCall(`/api/v1/vms/${vm.id}/stats`, {}, vui), 200, 'stats through a webui that saw the control plane go');
});

// ---- the end ------------------------------------------------------------

test('SIGTERM with clients still connected: each daemon exits 0, its leak check ran and found nothing', async () => {
  // Left open across the stop: event streams on the control plane and
  // through each webui (one over TLS), consoles relayed by both webuis, a
  // console at the agent, a long poll.
  const held = [];
  const hold = (url, opts) => {
    const ac = new AbortController();
    held.push(ac);
    const send = url.startsWith('https:') ? httpsRequest : httpRequest;
    const req = send(url, { headers: { Authorization: `Bearer ${opts.token}` }, ca: opts.ca, signal: ac.signal });
    req.on('error', () => {});
    req.on('response', (res) => { res.on('data', () => {}); res.on('error', () => {}); });
    req.end();
  };
  hold(`${cp.base}/v1/events?follow=true`, { token: cp.token });
  hold(`${ui.base}/api/v1/events?follow=true`, { token: cp.token });
  hold(`${tui.base}/api/v1/events?follow=true`, { token: tcp.token, ca });
  hold(`${vui.base}/api/v1/events?follow=true`, { token: cp.token });
  const op = expect(await cpCall('/v1/operations?limit=1'), 200, 'an operation').operations[0];
  hold(`${cp.base}/v1/operations/${op.id}/wait?timeout=30`, { token: cp.token });
  const relayed = [];
  for (const w of [ui, vui]) {
    const r = await relay(w, (await viaUi(w, 'serial')).proxy_path);
    assert.ok(r.ok);
    await r.ws.readUntil(/tiny test guest/);
    relayed.push(r.ws);
  }
  const direct = await openConsole(vm, 'vnc');
  await rfbHandshake(direct.ws);
  await new Promise((r) => setTimeout(r, 500));

  const failures = [];
  for (const [what, d] of [['the TLS webui', tui], ['the TLS control plane', tcp], ['the webui under valgrind', vui], ['the webui', ui],
    ['the agent', agent], ['the control plane', cp]]) {
    const failure = await stopClean(what, d);
    if (failure) failures.push(failure);
  }
  held.forEach((ac) => ac.abort());
  relayed.forEach((ws) => ws.socket.destroy());
  direct.ws.socket.destroy();
  if (failures.length) assert.fail(failures.join('\n\n'));
});
