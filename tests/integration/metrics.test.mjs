// GET /metrics on the control plane and on a real agent with a running
// tiny VM: a token is needed; the text is valid Prometheus exposition
// format 0.0.4 (checked line by line by the small parser below); request
// counters grow; the store's figures (VMs by state, host capacity) match
// what the API says; operation durations are observed; the agent reports
// its VMs by state and, per running VM, its QEMU's CPU time and memory,
// and counts console viewers and the bytes they exchange.  The webui's
// /metrics takes the control plane's admin token (it asks the control
// plane, and remembers a yes for a while) and counts requests by kind and
// status class, its /api connections and bytes, and the consoles it
// relays, their bytes and its refusals.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startControlPlane } from './lib/controlplane.mjs';
import { Agent, until } from './lib/agent.mjs';
import { Webui } from './lib/webui.mjs';
import { tinyVm } from './lib/tiny_image.mjs';
import { wsConnect, rfbHandshake } from './lib/vnc_ws.mjs';

const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

// ---- a small parser of the exposition format -------------------------

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

// `{a="x",b="y\"z"}` from position i of line: [labels, position after '}'].
function parseLabels(line, i, where) {
  const labels = {};
  assert.equal(line[i], '{', where);
  i++;
  while (line[i] !== '}') {
    const eq = line.indexOf('=', i);
    assert.ok(eq > i, `${where}: label without '='`);
    const name = line.slice(i, eq);
    assert.match(name, LABEL, `${where}: label name`);
    assert.equal(line[eq + 1], '"', `${where}: label value not quoted`);
    let value = '';
    let j = eq + 2;
    for (; j < line.length && line[j] !== '"'; j++) {
      if (line[j] === '\\') {
        const next = line[++j];
        assert.ok(['\\', '"', 'n'].includes(next), `${where}: bad escape \\${next}`);
        value += next === 'n' ? '\n' : next;
      } else {
        value += line[j];
      }
    }
    assert.equal(line[j], '"', `${where}: unterminated label value`);
    assert.ok(!(name in labels), `${where}: label ${name} twice`);
    labels[name] = value;
    i = j + 1;
    if (line[i] === ',') i++;
    else assert.equal(line[i], '}', `${where}: expected ',' or '}'`);
  }
  return [labels, i + 1];
}

function parseValue(text, where) {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  assert.match(text, /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/, `${where}: value '${text}'`);
  return Number(text);
}

// The family a sample belongs to: its name, or for a histogram's
// _bucket/_sum/_count the name without the suffix.
function familyOf(name, families) {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    const base = name.slice(0, -suffix.length);
    if (name.endsWith(suffix) && families.get(base)?.type === 'histogram') return base;
  }
  return name;
}

// Returns { families: Map(name → {help, type}), samples: [{name, family, labels, value}] };
// fails on any line that is not valid exposition format.
function parseExposition(text) {
  assert.ok(text.endsWith('\n'), 'the text ends with a newline');
  const families = new Map();
  const samples = [];
  const lines = text.slice(0, -1).split('\n');
  lines.forEach((line, n) => {
    const where = `line ${n + 1} '${line}'`;
    if (line.startsWith('# HELP ') || line.startsWith('# TYPE ')) {
      const [, kind, name, ...rest] = line.split(' ');
      assert.match(name, NAME, where);
      const f = families.get(name) ?? {};
      if (kind === 'HELP') {
        assert.equal(f.help, undefined, `${where}: HELP twice`);
        assert.equal(f.samples, undefined, `${where}: HELP after samples`);
        f.help = rest.join(' ');
      } else {
        assert.equal(f.type, undefined, `${where}: TYPE twice`);
        assert.equal(f.samples, undefined, `${where}: TYPE after samples`);
        assert.ok(TYPES.has(rest[0]) && rest.length === 1, `${where}: type`);
        f.type = rest[0];
      }
      families.set(name, f);
      return;
    }
    assert.ok(!line.startsWith('#') && line.trim() !== '', `${where}: not a sample`);
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
    assert.ok(m, `${where}: metric name`);
    let i = m[1].length;
    let labels = {};
    if (line[i] === '{') [labels, i] = parseLabels(line, i, where);
    assert.equal(line[i], ' ', `${where}: one space before the value`);
    const value = parseValue(line.slice(i + 1), where);
    const family = familyOf(m[1], families);
    const f = families.get(family);
    assert.ok(f?.help !== undefined && f?.type, `${where}: no HELP and TYPE before it`);
    f.samples = (f.samples ?? 0) + 1;
    samples.push({ name: m[1], family, labels, value });
  });
  checkHistograms(families, samples);
  return { families, samples };
}

// Buckets ascend in le, their counts never go down, +Inf equals _count.
function checkHistograms(families, samples) {
  for (const [name, f] of families) {
    if (f.type !== 'histogram') continue;
    const series = new Map();
    for (const s of samples.filter((x) => x.family === name)) {
      const { le, ...rest } = s.labels;
      const key = JSON.stringify(rest);
      const h = series.get(key) ?? { buckets: [] };
      if (s.name.endsWith('_bucket')) h.buckets.push([parseValue(le, name), s.value]);
      else if (s.name.endsWith('_count')) h.count = s.value;
      else h.sum = s.value;
      series.set(key, h);
    }
    for (const [key, h] of series) {
      const where = `${name}${key}`;
      assert.ok(h.buckets.length > 0 && h.count !== undefined && h.sum !== undefined, where);
      for (let i = 1; i < h.buckets.length; i++) {
        assert.ok(h.buckets[i][0] > h.buckets[i - 1][0], `${where}: le ascends`);
        assert.ok(h.buckets[i][1] >= h.buckets[i - 1][1], `${where}: cumulative`);
      }
      assert.deepEqual(h.buckets.at(-1), [Infinity, h.count], `${where}: +Inf bucket = _count`);
    }
  }
}

// The value of the sample `name` whose labels include `labels`, or undefined.
function value(parsed, name, labels = {}) {
  const s = parsed.samples.find((x) => x.name === name &&
    Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s?.value;
}

// ---- the daemons --------------------------------------------------------

let cp, agent, vm, ui;
before(async () => {
  cp = await startControlPlane();
  agent = await new Agent(cp).start();
  ui = await new Webui(cp.base).start();
  await until('the host to join', async () => (await cp.get('/v1/hosts')).body.hosts.find((h) => h.state === 'up'));
  vm = await tinyVm(cp, 'metrics-1');
});
after(async () => {
  await ui?.cleanup();
  await agent?.cleanup();
  await cp?.cleanup();
});

async function scrape(opts) {
  const r = await cp.get('/metrics', opts);
  assert.equal(r.status, 200, String(r.body));
  assert.equal(r.headers.get('content-type'), CONTENT_TYPE);
  return parseExposition(r.body);
}

function orderToken() {
  return JSON.parse(readFileSync(join(agent.dataDir, 'credentials.json'), 'utf8')).order_token;
}

async function scrapeAgent(token = orderToken()) {
  const res = await fetch(`http://127.0.0.1:${agent.port}/metrics`, {
    headers: token ? { Authorization: `Bearer ${token}` } : {},
  });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

test('the parser refuses what is not exposition format', () => {
  assert.throws(() => parseExposition('x 1\n'), /no HELP and TYPE/);
  assert.throws(() => parseExposition('# HELP x h\n# TYPE x gauge\nx{a="b} 1\n'), /unterminated/);
  assert.throws(() => parseExposition('# HELP x h\n# TYPE x gauge\nx{a="\\t"} 1\n'), /bad escape/);
  assert.throws(() => parseExposition('# HELP x h\n# TYPE x gauge\nx one\n'), /value/);
  const ok = parseExposition('# HELP x h\n# TYPE x gauge\nx{a="q\\"\\\\\\n"} 1.5e3\n');
  assert.equal(value(ok, 'x', { a: 'q"\\\n' }), 1500);
});

test('/metrics needs a token, on the control plane and on the agent', async () => {
  assert.equal((await cp.get('/metrics', { token: null })).status, 401);
  assert.equal((await cp.get('/metrics', { token: 'cuadm_wrong' })).status, 401);
  assert.equal((await scrapeAgent(null)).status, 401);
  assert.equal((await scrapeAgent('cuord_wrong')).status, 401);
});

test('request counters grow, by route pattern, method and status', async () => {
  const before = await scrape();
  const labels = { method: 'GET', route: '/v1/vms/{id}', status: '200' };
  const had = value(before, 'cumulus_http_requests_total', labels) ?? 0;
  for (let i = 0; i < 3; i++) assert.equal((await cp.get(`/v1/vms/${vm.id}`)).status, 200);
  assert.equal((await cp.get('/v1/no/such/path')).status, 404);
  // A request is counted once its answer is sent, which the client may
  // see a moment before: look again until the count is there.
  let now;
  await until('the requests to be counted', async () => {
    now = await scrape();
    return value(now, 'cumulus_http_requests_total', labels) >= had + 3;
  }, 5000, 100);
  assert.equal(value(now, 'cumulus_http_requests_total', labels), had + 3);
  // Never the raw path: unmatched paths share one series.
  assert.ok(value(now, 'cumulus_http_requests_total', { route: 'unmatched', status: '404' }) >= 1);
  assert.ok(!now.samples.some((s) => s.labels.route?.includes(vm.id)), 'a raw path as a label');
  const count = value(now, 'cumulus_http_request_duration_seconds_count', { method: 'GET', route: '/v1/vms/{id}' });
  assert.ok(count >= had + 3, `duration count ${count}`);
  // The scrape before this one is counted too, under its own route.
  assert.ok(value(now, 'cumulus_http_requests_total', { route: '/metrics', status: '200' }) >= 1);
});

test('VMs and hosts by state, and host capacity, match the API', async () => {
  const parsed = await scrape();
  const vms = (await cp.get('/v1/vms?limit=1000')).body.vms;
  const states = new Set([...vms.map((v) => v.state), 'running', 'stopped', 'error']);
  for (const state of states) {
    assert.equal(value(parsed, 'cumulus_vms', { state }), vms.filter((v) => v.state === state).length, state);
  }
  const hosts = (await cp.get('/v1/hosts')).body.hosts;
  assert.equal(value(parsed, 'cumulus_hosts', { state: 'up' }), hosts.filter((h) => h.state === 'up').length);
  // Free figures move with heartbeats: compare a scrape with the hosts
  // listed right after it until the two agree.
  const MiB = 1048576, GiB = 1073741824;
  await until('host capacity to match GET /v1/hosts', async () => {
    const p = await scrape();
    const [h] = (await cp.get('/v1/hosts')).body.hosts;
    const want = {
      cumulus_host_vcpus: h.vcpus, cumulus_host_free_vcpus: h.free_vcpus,
      cumulus_host_memory_bytes: h.memory_mib * MiB, cumulus_host_free_memory_bytes: h.free_memory_mib * MiB,
      cumulus_host_disk_bytes: h.disk_gib * GiB, cumulus_host_free_disk_bytes: h.free_disk_gib * GiB,
    };
    return Object.entries(want).every(([name, v]) => value(p, name, { host: h.name }) === v);
  }, 15000);
});

test('operation durations are observed when operations end', async () => {
  const parsed = await scrape();
  const labels = { type: 'vm.create', status: 'succeeded' };
  const count = value(parsed, 'cumulus_operation_duration_seconds_count', labels);
  assert.ok(count >= 1, `vm.create operations observed: ${count}`);
  const sum = value(parsed, 'cumulus_operation_duration_seconds_sum', labels);
  assert.ok(sum > 0 && sum < 600, `vm.create took ${sum} s`);
  assert.equal(parsed.families.get('cumulus_operation_duration_seconds').type, 'histogram');
});

test('the agent: requests, VMs by state, consoles, and the running VM\'s CPU and memory', async () => {
  const r = await scrapeAgent();
  assert.equal(r.status, 200, r.text);
  assert.equal(r.type, CONTENT_TYPE);
  const parsed = parseExposition(r.text);
  assert.equal(value(parsed, 'cumulus_agent_vms', { state: 'running' }), 1);
  assert.equal(value(parsed, 'cumulus_agent_vms', { state: 'stopped' }), 0);
  // The control plane's order reached the agent's API.
  assert.ok(value(parsed, 'cumulus_http_requests_total', { method: 'PUT', route: '/v1/vms/{id}' }) >= 1);
  assert.equal(parsed.families.get('cumulus_console_viewers').type, 'gauge');
  assert.equal(value(parsed, 'cumulus_console_viewers', { kind: 'vnc' }), 0);
  assert.equal(parsed.families.get('cumulus_console_bytes_total').type, 'counter');
  assert.ok(value(parsed, 'cumulus_console_bytes_total', { kind: 'serial', direction: 'to_viewer' }) >= 0);
  const cpu = value(parsed, 'cumulus_vm_cpu_seconds_total', { vm: vm.id });
  assert.ok(cpu > 0, `CPU seconds of ${vm.id}: ${cpu}\n${r.text}`);
  const mem = value(parsed, 'cumulus_vm_memory_rss_bytes', { vm: vm.id });
  assert.ok(mem > 1048576, `memory of ${vm.id}: ${mem}`);
});

test('the agent counts console viewers and their bytes, both ways', async () => {
  const agentValue = async (name, labels) => value(parseExposition((await scrapeAgent()).text), name, labels);
  const bytes = (kind, direction) => agentValue('cumulus_console_bytes_total', { kind, direction });
  const ticket = async (type) => {
    const r = await cp.post(`/v1/vms/${vm.name}/console`, { type });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.url;
  };
  const before = { serialDown: await bytes('serial', 'to_viewer'), serialUp: await bytes('serial', 'to_vm'),
    vncDown: await bytes('vnc', 'to_viewer'), vncUp: await bytes('vnc', 'to_vm') };

  const serial = await wsConnect(await ticket('serial'));
  assert.ok(serial.ok, JSON.stringify(serial));
  serial.ws.send(Buffer.from('metrics\r'));
  await serial.ws.readUntil(/you typed: metrics\r?\n/);
  const vnc = await wsConnect(await ticket('vnc'));
  assert.ok(vnc.ok, JSON.stringify(vnc));
  await rfbHandshake(vnc.ws);
  assert.equal(await agentValue('cumulus_console_viewers', { kind: 'serial' }), 1);
  assert.equal(await agentValue('cumulus_console_viewers', { kind: 'vnc' }), 1);
  assert.equal(await bytes('serial', 'to_vm'), before.serialUp + 'metrics\r'.length);
  assert.ok(await bytes('serial', 'to_viewer') >= before.serialDown + serial.ws.received,
    'every byte the viewer got is counted');
  assert.ok(await bytes('vnc', 'to_viewer') > before.vncDown);
  assert.ok(await bytes('vnc', 'to_vm') > before.vncUp);

  serial.ws.close();
  vnc.ws.close();
  await until('the viewers to be gone', async () =>
    await agentValue('cumulus_console_viewers', { kind: 'serial' }) === 0 &&
    await agentValue('cumulus_console_viewers', { kind: 'vnc' }) === 0, 5000, 100);
});

// ---- the webui ------------------------------------------------------------

async function scrapeUi(token = cp.token) {
  const res = await fetch(`${ui.base}/metrics`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

async function uiFigures() {
  const r = await scrapeUi();
  assert.equal(r.status, 200, r.text);
  assert.equal(r.type, CONTENT_TYPE);
  return parseExposition(r.text);
}

test("the webui's /metrics takes the control plane's admin token and no other", async () => {
  const none = await scrapeUi(null);
  assert.equal(none.status, 401);
  assert.equal(JSON.parse(none.text).error.code, 'unauthorized');
  assert.equal((await scrapeUi('cuadm_wrong')).status, 401, 'a token the control plane does not know');
  const joinToken = readFileSync(join(cp.dataDir, 'join-token'), 'utf8').trim();
  assert.equal((await scrapeUi(joinToken)).status, 403, 'a token that is not an admin\'s');
  assert.equal((await scrapeUi(orderToken())).status, 401, 'the agent\'s order token is not the control plane\'s');
  assert.equal((await fetch(`${ui.base}/metrics`, { method: 'POST', headers: { Authorization: `Bearer ${cp.token}` } })).status, 405);
  assert.equal((await fetch(`${ui.base}/metrics/more`, { headers: { Authorization: `Bearer ${cp.token}` } })).status, 404);
  assert.match(ui.log, /figures at \/metrics/);
});

test("the webui remembers a yes for a while: two scrapes ask the control plane once", async () => {
  await uiFigures(); // remembered from here, if not already
  const asked = async () => value(await scrape(), 'cumulus_http_requests_total', { method: 'GET', route: '/v1/sizes', status: '200' }) ?? 0;
  const before = await asked();
  for (let i = 0; i < 3; i++) await uiFigures();
  assert.equal(await asked(), before, 'the control plane was not asked again within the TTL');
  // A wrong token is never remembered: it is asked about each time.
  const refused = async () => value(await scrape(), 'cumulus_http_requests_total', { method: 'GET', route: '/v1/sizes', status: '401' }) ?? 0;
  const no = await refused();
  await scrapeUi('cuadm_wrong');
  await scrapeUi('cuadm_wrong');
  await until('both wrong tokens to be asked about', async () => await refused() === no + 2, 5000, 100);
});

test('the webui counts files (sent, not modified, missing), /api requests by status class, its /api connections and bytes', async () => {
  const req = (p, kind, cls) => value(p, 'cumulus_webui_requests_total', { kind, class: cls }) ?? NaN;
  const before = await uiFigures();
  const page = await fetch(`${ui.base}/`);
  assert.equal(page.status, 200);
  await page.arrayBuffer();
  const missing = await fetch(`${ui.base}/no-such-file.js`);
  assert.equal(missing.status, 404);
  await missing.arrayBuffer();
  // A page the browser has: lws answers 304 itself, counted when the next
  // request on the connection begins (or it closes).
  const etag = page.headers.get('etag');
  assert.ok(etag, 'the dashboard\'s files have an ETag');
  const again = await fetch(`${ui.base}/`, { headers: { 'If-None-Match': etag } });
  assert.equal(again.status, 304);
  await again.arrayBuffer();
  const sizes = await fetch(`${ui.base}/api/v1/sizes`, { headers: { Authorization: `Bearer ${cp.token}` } });
  assert.equal(sizes.status, 200);
  const sizesLen = (await sizes.arrayBuffer()).byteLength;
  const body = JSON.stringify({ name: 'metrics-key', public_key: 'not a key' });
  const bad = await fetch(`${ui.base}/api/v1/ssh-keys`, {
    method: 'POST', body, headers: { Authorization: `Bearer ${cp.token}`, 'Content-Type': 'application/json' },
  });
  assert.equal(bad.status, 400);
  await bad.arrayBuffer();
  let now;
  await until('the requests to be counted', async () => {
    now = await uiFigures();
    return req(now, 'files', '2xx') >= req(before, 'files', '2xx') + 1 && req(now, 'api', '4xx') >= req(before, 'api', '4xx') + 1 &&
      req(now, 'files', '3xx') >= req(before, 'files', '3xx') + 1;
  }, 5000, 100);
  assert.equal(req(now, 'files', '2xx'), req(before, 'files', '2xx') + 1);
  assert.equal(req(now, 'files', '4xx'), req(before, 'files', '4xx') + 1);
  assert.equal(req(now, 'files', '3xx'), req(before, 'files', '3xx') + 1);
  assert.equal(req(now, 'api', '2xx'), req(before, 'api', '2xx') + 1);
  assert.equal(req(now, 'api', '4xx'), req(before, 'api', '4xx') + 1);
  assert.equal(req(now, 'metrics', '2xx') > req(before, 'metrics', '2xx'), true, 'the scrape before is counted');
  const bytes = (p, direction) => value(p, 'cumulus_webui_api_bytes_total', { direction });
  assert.equal(bytes(now, 'to_control_plane'), bytes(before, 'to_control_plane') + Buffer.byteLength(body));
  assert.ok(bytes(now, 'to_browser') >= bytes(before, 'to_browser') + sizesLen, 'every byte the browser got');
  assert.equal(value(now, 'cumulus_webui_api_connections_total'), value(before, 'cumulus_webui_api_connections_total') + 2);
  await until('the /api connections to be closed', async () => value(await uiFigures(), 'cumulus_webui_api_connections') === 0, 10000, 200);
});

test('the webui counts the consoles it relays, their bytes both ways and its refusals', async () => {
  const fig = async (name, labels) => value(await uiFigures(), name, labels);
  const viaUi = async (type) => {
    const res = await fetch(`${ui.base}/api/v1/vms/${vm.name}/console`, {
      method: 'POST', body: JSON.stringify({ type }),
      headers: { Authorization: `Bearer ${cp.token}`, 'Content-Type': 'application/json' },
    });
    const c = await res.json();
    assert.equal(res.status, 200, JSON.stringify(c));
    return `ws://127.0.0.1:${ui.port}${c.proxy_path}`;
  };
  const before = await uiFigures();
  const was = (name, labels) => value(before, name, labels);
  const vnc = await wsConnect(await viaUi('vnc'));
  assert.ok(vnc.ok, JSON.stringify(vnc));
  await rfbHandshake(vnc.ws);
  const serial = await wsConnect(await viaUi('serial'));
  assert.ok(serial.ok, JSON.stringify(serial));
  serial.ws.send(Buffer.from('webui\r'));
  await serial.ws.readUntil(/you typed: webui\r?\n/);
  assert.equal(await fig('cumulus_webui_console_connections', { kind: 'vnc' }), 1);
  assert.equal(await fig('cumulus_webui_console_connections', { kind: 'serial' }), 1);
  assert.equal(await fig('cumulus_webui_console_connections_total', { kind: 'vnc' }), was('cumulus_webui_console_connections_total', { kind: 'vnc' }) + 1);
  const bytes = (kind, direction) => fig('cumulus_webui_console_bytes_total', { kind, direction });
  assert.equal(await bytes('serial', 'to_host'), was('cumulus_webui_console_bytes_total', { kind: 'serial', direction: 'to_host' }) + 'webui\r'.length);
  assert.ok(await bytes('serial', 'to_browser') >= was('cumulus_webui_console_bytes_total', { kind: 'serial', direction: 'to_browser' }) + serial.ws.received);
  assert.ok(await bytes('vnc', 'to_browser') >= was('cumulus_webui_console_bytes_total', { kind: 'vnc', direction: 'to_browser' }) + vnc.ws.received);
  assert.ok(await bytes('vnc', 'to_host') > was('cumulus_webui_console_bytes_total', { kind: 'vnc', direction: 'to_host' }));
  vnc.ws.close();
  serial.ws.close();
  await until('the consoles to be gone', async () =>
    await fig('cumulus_webui_console_connections', { kind: 'vnc' }) === 0 &&
    await fig('cumulus_webui_console_connections', { kind: 'serial' }) === 0, 5000, 100);

  const refusals = (reason) => fig('cumulus_webui_console_refusals_total', { reason });
  const [origin, ticket] = [await refusals('origin'), await refusals('ticket')];
  const foreign = await wsConnect(await viaUi('vnc'), { origin: 'http://evil.example' });
  assert.equal(foreign.ok, false);
  const unknown = await wsConnect(`ws://127.0.0.1:${ui.port}/console/v1/vms/${vm.id}/vnc?ticket=never-issued`);
  assert.equal(unknown.ok, false);
  assert.equal(await refusals('origin'), origin + 1);
  assert.equal(await refusals('ticket'), ticket + 1);
});
