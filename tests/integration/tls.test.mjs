// TLS between the daemons and for the browser: certificates made by
// scripts/make-certs, then a control plane, an agent and a webui all with
// tls-cert, tls-key and tls-ca.  The agent joins and sends heartbeats over
// HTTPS, the API answers over HTTPS to a client that has the CA and to no
// other, plain HTTP to a TLS port gets no answer, the agent's console
// listener speaks TLS, the webui serves the dashboard over HTTPS and passes
// /api over TLS to the control plane (and refuses to when the control
// plane's certificate is not signed by its tls-ca, or does not name the
// address it is reached at: curl and lws check names).  Consoles go over
// TLS on every link: a tiny VM's VNC and serial consoles, asked for
// through the webui's /api, open over wss:// on the webui, which relays
// them over wss:// to the agent, verified with tls-ca; an agent whose
// certificate our CA did not sign is refused and the webui logs why.  A
// daemon given a certificate without its key, or a non-loopback address
// without TLS, does not start and says why.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane } from './lib/controlplane.mjs';
import { Agent, until } from './lib/agent.mjs';
import { Webui } from './lib/webui.mjs';
import { tinyVm } from './lib/tiny_image.mjs';
import { wsConnect } from './lib/vnc_ws.mjs';

const ROOT = new URL('../..', import.meta.url).pathname;
const BIN_DIR = process.env.CUMULUS_BIN_DIR ?? join(ROOT, 'build/bin');
const MAKE_CERTS = join(ROOT, 'scripts/make-certs');

let dir, certs, other, cp, agent, ui;
const tlsArgs = (name) => ['--tls-cert', join(certs, `${name}.crt`), '--tls-key', join(certs, `${name}.key`), '--tls-ca', join(certs, 'ca.crt')];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cumulus-tls-'));
  certs = join(dir, 'certs');
  other = join(dir, 'other'); // a CA of its own: signs nothing our daemons serve
  const names = ['cp.test,127.0.0.1', 'agent.test,127.0.0.1', 'ui.test,127.0.0.1,localhost'];
  execFileSync(MAKE_CERTS, ['--out', certs, '--ca-name', 'Cumulus test CA', ...names], { stdio: 'pipe' });
  execFileSync(MAKE_CERTS, ['--out', other, '--ca-name', 'Another CA'], { stdio: 'pipe' });
  cp = await startControlPlane({ extraArgs: tlsArgs('cp.test'), ca: readFileSync(join(certs, 'ca.crt')) });
  agent = await new Agent(cp, { name: 'tls-host', args: tlsArgs('agent.test') }).start();
  ui = await new Webui(cp.base, { args: tlsArgs('ui.test') }).start();
});

after(async () => {
  await ui?.cleanup();
  await agent?.cleanup();
  await cp?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// One request with node's http or https; resolves { status, body } or
// rejects with the transport's error (a certificate refused, a hang-up).
function call(url, { ca, token, method = 'GET', body } = {}) {
  const send = url.startsWith('https:') ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const req = send(url, { method, headers, ca, timeout: 10000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => {
        let body = text;
        try { body = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, type: res.headers['content-type'], body });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const ca = () => readFileSync(join(certs, 'ca.crt'));

test('make-certs: a CA and a certificate per host, keys 0600, the CA kept on a second run', () => {
  for (const f of ['ca.key', 'cp.test.key', 'agent.test.key', 'ui.test.key']) {
    assert.equal(statSync(join(certs, f)).mode & 0o777, 0o600, f);
  }
  const san = execFileSync('openssl', ['x509', '-in', join(certs, 'ui.test.crt'), '-noout', '-ext', 'subjectAltName'], { encoding: 'utf8' });
  assert.match(san, /DNS:ui\.test/);
  assert.match(san, /IP Address:127\.0\.0\.1/);
  assert.match(san, /DNS:localhost/);
  const before = readFileSync(join(certs, 'ca.crt'), 'utf8');
  const cpCert = readFileSync(join(certs, 'cp.test.crt'), 'utf8');
  const again = spawnSync(MAKE_CERTS, ['--out', certs, 'cp.test,127.0.0.1'], { encoding: 'utf8' });
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /keeping the CA/);
  assert.equal(readFileSync(join(certs, 'ca.crt'), 'utf8'), before);
  assert.equal(readFileSync(join(certs, 'cp.test.crt'), 'utf8'), cpCert, 'same names: the certificate is kept');
});

test('the agent joins over HTTPS and its heartbeats arrive', async () => {
  assert.match(cp.base, /^https:\/\//);
  await until('the agent to join', () => /joined the control plane at https:\/\//.test(agent.log), 20000);
  const seen = new Set();
  await until('three heartbeats from the agent', async () => {
    const r = await call(`${cp.base}/v1/hosts`, { ca: ca(), token: cp.token });
    const host = r.body?.hosts?.find((h) => h.name === 'tls-host');
    if (host?.state === 'up') seen.add(host.last_heartbeat);
    return seen.size >= 3;
  }, 30000, 300);
});

test('the API answers over HTTPS to a client with the CA, and to no other', async () => {
  const ok = await call(`${cp.base}/v1/health`, { ca: ca() });
  assert.equal(ok.status, 200);
  assert.equal(ok.body.status, 'ok');
  // Node's own trusted CAs: our CA is not among them.
  await assert.rejects(call(`${cp.base}/v1/health`), (e) => /CERT|SIGNATURE|ISSUER/.test(e.code ?? ''), 'no CA');
  await assert.rejects(call(`${cp.base}/v1/health`, { ca: readFileSync(join(other, 'ca.crt')) }),
    (e) => /CERT|SIGNATURE|ISSUER/.test(e.code ?? ''), 'another CA');
  // Plain HTTP to the TLS port: the TLS handshake fails, nothing answers.
  await assert.rejects(call(`http://127.0.0.1:${cp.port}/v1/health`));
});

test("the agent's API and console listener speak TLS with its certificate", async () => {
  const ok = await call(`https://127.0.0.1:${agent.port}/v1/health`, { ca: ca() }).catch((e) => e);
  assert.ok(!(ok instanceof Error), `the agent's API over HTTPS: ${ok.message}`);
  const m = /websockets on wss:\/\/127\.0\.0\.1:(\d+)\//.exec(agent.log);
  assert.ok(m, agent.log);
  const peer = await new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port: Number(m[1]), ca: ca(), servername: 'agent.test' }, () => {
      const cert = s.getPeerCertificate();
      s.end();
      resolve(cert);
    });
    s.on('error', reject);
  });
  assert.equal(peer.subject.CN, 'agent.test');
});

test('the webui serves the dashboard over HTTPS and passes /api over TLS', async () => {
  assert.match(ui.base, /^https:\/\//);
  const page = await call(`${ui.base}/`, { ca: ca() });
  assert.equal(page.status, 200);
  assert.match(page.body, /<title>Cumulus<\/title>/);
  const hosts = await call(`${ui.base}/api/v1/hosts`, { ca: ca(), token: cp.token });
  assert.equal(hosts.status, 200, JSON.stringify(hosts.body));
  assert.ok(hosts.body.hosts.some((h) => h.name === 'tls-host'));
  await assert.rejects(call(`${ui.base}/`), (e) => /CERT|SIGNATURE|ISSUER/.test(e.code ?? ''));
});

test("the webui's /metrics over HTTPS: the token checked with the control plane over TLS", async () => {
  const ok = await call(`${ui.base}/metrics`, { ca: ca(), token: cp.token });
  assert.equal(ok.status, 200, String(ok.body));
  assert.match(ok.body, /^cumulus_webui_requests_total\{kind="api",class="2xx"\} [1-9]/m);
  assert.equal((await call(`${ui.base}/metrics`, { ca: ca(), token: 'cuadm_wrong' })).status, 401);
  assert.equal((await call(`${ui.base}/metrics`, { ca: ca() })).status, 401);
});

test("a webui whose tls-ca did not sign the control plane's certificate does not pass /api", async () => {
  const lost = await new Webui(cp.base, { args: ['--tls-ca', join(other, 'ca.crt')] }).start();
  try {
    const r = await call(`${lost.base}/api/v1/health`);
    assert.equal(r.status, 502, JSON.stringify(r.body));
    assert.equal(r.body.error.code, 'upstream_unavailable');
    assert.match(lost.log, /the control plane: its certificate was refused: unable to get local issuer certificate \(subject '\/CN=cp\.test'/);
  } finally {
    await lost.cleanup();
  }
});

test("a control plane whose certificate does not name its address is refused by the agent and the webui", async () => {
  execFileSync(MAKE_CERTS, ['--out', certs, 'elsewhere.test'], { stdio: 'pipe' }); // our CA, no 127.0.0.1
  const wrong = await startControlPlane({ extraArgs: ['--tls-cert', join(certs, 'elsewhere.test.crt'), '--tls-key', join(certs, 'elsewhere.test.key')] });
  const lonely = new Agent(wrong, { name: 'lonely', args: tlsArgs('agent.test') });
  const lost = await new Webui(wrong.base, { args: ['--tls-ca', join(certs, 'ca.crt')] }).start();
  try {
    await lonely.start();
    await until('the agent to report the name mismatch', () => /no alternative certificate subject name matches/.test(lonely.log), 20000);
    const r = await call(`${lost.base}/api/v1/health`);
    assert.equal(r.status, 502, JSON.stringify(r.body));
    assert.match(lost.log, /IP address mismatch/);
  } finally {
    await lost.cleanup();
    await lonely.cleanup();
    await wrong.cleanup();
  }
});

// ---- consoles over TLS, end to end -------------------------------------

let vm;
async function consoleVm() {
  if (vm) return vm;
  await until('the host to be up', async () => (await cp.get('/v1/hosts')).body.hosts.some((h) => h.state === 'up'), 30000);
  vm = await tinyVm(cp, 'tls-vm');
  return vm;
}

// POST /api/v1/vms/{vm}/console through the webui over HTTPS: the answer.
async function consoleViaUi(type) {
  const r = await call(`${ui.base}/api/v1/vms/${vm.name}/console`, { ca: ca(), token: cp.token, method: 'POST', body: { type } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}
const relayUrl = (c) => `wss://127.0.0.1:${ui.port}${c.proxy_path}`;

test('a VNC console over wss:// on every link: browser to webui, webui to agent, verified with the CA', async () => {
  await consoleVm();
  const c = await consoleViaUi('vnc');
  assert.match(c.url, /^wss:\/\/127\.0\.0\.1:\d+\/v1\/vms\//, 'the agent is asked over wss://');
  assert.ok(c.proxy_path, JSON.stringify(c));
  // The browser's side: a client without our CA does not get past TLS.
  const untrusting = await wsConnect(relayUrl(c), { origin: ui.base });
  assert.equal(untrusting.ok, false);
  assert.match(untrusting.error ?? '', /certificate|self.signed|issuer/i);
  const r = await wsConnect(relayUrl(await consoleViaUi('vnc')), { origin: ui.base, ca: ca() });
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal(r.protocol, 'binary');
  assert.equal((await r.ws.read(12)).toString(), 'RFB 003.008\n', "the VM's VNC server greets through both TLS links");
  r.ws.send(Buffer.from('RFB 003.008\n'));
  const n = (await r.ws.read(1))[0];
  assert.ok(n > 0, 'security types offered');
  assert.ok([...await r.ws.read(n)].includes(1), 'the "None" security type (the agent fronts VNC)');
  r.ws.close();
  await until('the webui to log the viewer leaving', () => /left \/v1\/vms\/.*\/vnc/.test(ui.log), 5000);
  assert.match(ui.log, /console: \S+ opened \/v1\/vms\/\S+\/vnc on 127\.0\.0\.1:\d+/);
});

test('the serial console over wss:// end to end: typed text reaches the guest and its answer comes back', async () => {
  await consoleVm();
  const s = await wsConnect(relayUrl(await consoleViaUi('serial')), { origin: ui.base, ca: ca() });
  assert.ok(s.ok, JSON.stringify(s));
  await s.ws.readUntil(/tiny test guest/);
  s.ws.send(Buffer.from('over tls\r'));
  await s.ws.readUntil(/you typed: over tls\r?\n/);
  s.ws.close();
});

test("a relay to an agent whose certificate our CA did not sign is refused, and the webui logs why", async () => {
  await consoleVm();
  // The same agent (and its running VM) with a certificate from another CA.
  execFileSync(MAKE_CERTS, ['--out', other, 'agent.other,127.0.0.1'], { stdio: 'pipe' });
  await agent.stop();
  agent.args = ['--tls-cert', join(other, 'agent.other.crt'), '--tls-key', join(other, 'agent.other.key'), '--tls-ca', join(certs, 'ca.crt')];
  await agent.start();
  const port = await until('the console listener', () => /websockets on wss:\/\/127\.0\.0\.1:(\d+)\//.exec(agent.log)?.[1], 10000, 50);
  // The control plane hands out the agent's new console address once it rejoined.
  const c = await until('a console on the restarted agent', async () => {
    const r = await call(`${ui.base}/api/v1/vms/${vm.name}/console`, { ca: ca(), token: cp.token, method: 'POST', body: { type: 'vnc' } });
    return r.status === 200 && r.body.url.startsWith(`wss://127.0.0.1:${port}/`) ? r.body : null;
  }, 30000, 500);
  const r = await wsConnect(relayUrl(c), { origin: ui.base, ca: ca() });
  assert.ok(r.ok, 'the webui upgrades, then asks the host');
  const closed = await r.ws.waitClosed(10000);
  assert.ok(closed, 'the websocket closed');
  assert.match(closed.reason, /the VM's host could not be verified: its certificate was refused/);
  assert.equal(r.ws.received, 0, 'not a byte from the VM');
  await until('the webui to log the refusal', () => /its host 127\.0\.0\.1:\d+ refused or failed/.test(ui.log), 5000);
  const line = ui.log.split('\n').find((l) => /its host 127\.0\.0\.1:\d+ refused or failed/.test(l));
  const figures = await call(`${ui.base}/metrics`, { ca: ca(), token: cp.token });
  assert.match(figures.body, /^cumulus_webui_console_refusals_total\{reason="host"\} [1-9]/m);
  assert.match(line, /its certificate was refused: unable to get local issuer certificate \(subject '\/CN=agent\.other', issuer '\/CN=Another CA'/, line);
});

// Runs a daemon that must refuse to start: its exit status and stderr.
function refused(name, args) {
  const r = spawnSync(join(BIN_DIR, name), args, { encoding: 'utf8', timeout: 20000, env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1' } });
  return { status: r.status, stderr: r.stderr };
}

test('a daemon with a certificate but no key does not start, and names the key', () => {
  const cert = join(certs, 'cp.test.crt');
  const data = join(dir, 'refused');
  const runs = {
    'cumulus-controlplane': ['--listen', '127.0.0.1:0', '--data-dir', data, '--tls-cert', cert],
    'cumulus-agent': ['--listen', '127.0.0.1:0', '--data-dir', data, '--tls-cert', cert],
    'cumulus-webui': ['--listen', '127.0.0.1:0', '--tls-cert', cert],
  };
  for (const [name, args] of Object.entries(runs)) {
    const r = refused(name, args);
    assert.equal(r.status, 1, `${name}: ${r.stderr}`);
    assert.match(r.stderr, /tls-cert '.*cp\.test\.crt' is set but tls-key is not/, name);
  }
  const wrongKey = refused('cumulus-controlplane', ['--listen', '127.0.0.1:0', '--data-dir', data, '--tls-cert', cert, '--tls-key', join(certs, 'agent.test.key')]);
  assert.equal(wrongKey.status, 1);
  assert.match(wrongKey.stderr, /tls-key '.*agent\.test\.key' is not the private key of tls-cert/);
  const missing = refused('cumulus-controlplane', ['--listen', '127.0.0.1:0', '--data-dir', data, '--tls-cert', cert, '--tls-key', join(dir, 'nope.key')]);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /cannot read tls-key '.*nope\.key': No such file/);
});

test('plain HTTP beyond loopback needs --insecure-http', () => {
  const data = join(dir, 'refused');
  // 192.0.2.1 (TEST-NET-1) is not on this host: the refusal comes before the bind.
  const r = refused('cumulus-controlplane', ['--listen', '192.0.2.1:0', '--data-dir', data]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /listen '192\.0\.2\.1' is not a loopback address and TLS is off/);
  const ui2 = refused('cumulus-webui', ['--listen', '192.0.2.1:0']);
  assert.match(ui2.stderr, /not a loopback address and TLS is off/);
  const allowed = refused('cumulus-controlplane', ['--listen', '192.0.2.1:0', '--data-dir', data, '--insecure-http']);
  assert.equal(allowed.status, 1);
  assert.match(allowed.stderr, /serving plain HTTP beyond loopback/);
  assert.match(allowed.stderr, /cannot listen on '192\.0\.2\.1:0'/);
});
