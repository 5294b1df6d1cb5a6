// GET /metrics on the control plane and on a real agent with a running
// tiny VM: a token is needed; the text is valid Prometheus exposition
// format 0.0.4 (checked line by line by the small parser below); request
// counters grow; the store's figures (VMs by state, host capacity) match
// what the API says; operation durations are observed; the agent reports
// its VMs by state and, per running VM, its QEMU's CPU time and memory,
// and counts console viewers and the bytes they exchange.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startControlPlane } from './lib/controlplane.mjs';
import { Agent, until } from './lib/agent.mjs';
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

let cp, agent, vm;
before(async () => {
  cp = await startControlPlane();
  agent = await new Agent(cp).start();
  await until('the host to join', async () => (await cp.get('/v1/hosts')).body.hosts.find((h) => h.state === 'up'));
  vm = await tinyVm(cp, 'metrics-1');
});
after(async () => {
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
