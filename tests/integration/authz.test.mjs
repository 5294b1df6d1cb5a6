// The authorization matrix, through the real daemons: every route of the
// control plane (read from controlplane/api.c's route table, so a new route
// without a case here fails this test), of the agent's order API (from
// agent/agent_api.c) and the webui's /api proxy, called without a token,
// with a wrong one and with the credential of the wrong kind of caller: an
// agent's (or the join token) where the admin is needed, the admin's where
// an agent is needed, another host's where a host's own is.  Each refusal
// is 401 or 403 in the API's error shape, and nothing changed: the lists,
// the agents' VMs and the data directories are as they were.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startControlPlane } from './lib/controlplane.mjs';
import { Agent } from './lib/agent.mjs';
import { Webui } from './lib/webui.mjs';
import { makeKey } from './lib/keys.mjs';
import { dirListing } from './lib/datadir.mjs';

const SRC = process.env.CUMULUS_SOURCE_DIR ?? new URL('../..', import.meta.url).pathname;

// The rows {"METHOD", "/pattern", handler, ROLES} of a C route table.
function routeTable(file, table) {
  const text = readFileSync(join(SRC, file), 'utf8');
  const start = text.indexOf(`http_route ${table}[] = {`);
  assert.ok(start >= 0, `${file}: no table ${table}`);
  const body = text.slice(start, text.indexOf('\n};', start));
  const rows = [...body.matchAll(/\{\s*"([A-Z]+)",\s*"([^"]+)",\s*\w+,\s*([^}]+?)\s*\}/g)];
  assert.ok(rows.length > 0, `${file}: ${table} has no rows`);
  return rows.map(([, method, pattern, roles]) => ({ key: `${method} ${pattern}`, method, pattern, roles: roles.trim() }));
}

// Who may call a control plane route, as the table's roles say it.
function cpAccess(roles) {
  const parts = roles === '0' ? [] : roles.split('|').map((s) => s.trim()).sort();
  const names = { ADMIN: 'admin', ROLE_ADMIN: 'admin', ROLE_AGENT: 'agent', ROLE_JOIN: 'join' };
  if (parts.length === 0) return 'public';
  return parts.map((p) => names[p] ?? `?${p}`).sort().join('+');
}

const wrongToken = 'cuadm_' + 'x'.repeat(43);
let cp, fakeHost, fakeAgentToken, joinToken, agents = [], ui;
const ids = {};

before(async () => {
  cp = await startControlPlane({ extraArgs: ['--host-timeout', '3600'] });
  joinToken = readFileSync(join(cp.dataDir, 'join-token'), 'utf8').trim();
  // A host without an agent (its orders wait): the VM goes there, never boots.
  const joined = await cp.post('/v1/hosts/join', {
    name: 'host-fake', address: '127.0.0.1', api_url: 'http://127.0.0.1:9', architecture: 'x86_64',
    accelerators: ['tcg'], vcpus: 64, memory_mib: 262144, disk_gib: 10000, qemu_version: '7.2.0',
    order_token: 'cuord_no-agent-listens',
  }, { token: joinToken });
  assert.equal(joined.status, 201, JSON.stringify(joined.body));
  fakeHost = joined.body.host;
  fakeAgentToken = joined.body.agent_token;
  const must = async (r, status = 201) => { assert.equal(r.status, status, JSON.stringify(r.body)); return r.body; };
  ids.size = (await must(await cp.post('/v1/sizes', { name: 'authz-size', vcpus: 1, memory_mib: 256, disk_gib: 1 }))).id;
  ids.image = (await must(await cp.post('/v1/images', {
    name: 'authz-image', os: 'debian', version: '12', architecture: 'x86_64', url: 'http://127.0.0.1:9/authz.qcow2',
    checksum: 'sha256:' + '0'.repeat(64), login_user: 'debian',
  }))).id;
  ids.key = (await must(await cp.post('/v1/ssh-keys', { name: 'authz-key', public_key: makeKey().publicKey }))).id;
  const made = await must(await cp.post('/v1/vms', { name: 'authz-vm', size: 'authz-size', image: 'authz-image', ssh_keys: ['authz-key'] }), 202);
  ids.vm = made.vm.id;
  ids.op = made.operation.id;
  assert.equal(made.vm.host, 'host-fake');
  // Two real agents (no VM goes to them: nothing is created after this).
  for (const name of ['authz-a', 'authz-b']) agents.push(await new Agent(cp, { name }).start());
  for (const a of agents) {
    const creds = () => { try { return JSON.parse(readFileSync(join(a.dataDir, 'credentials.json'), 'utf8')); } catch { return null; } };
    for (let i = 0; i < 100 && !creds(); i++) await new Promise((r) => setTimeout(r, 100));
    a.creds = creds();
    assert.ok(a.creds?.order_token && a.creds?.agent_token, `${a.name} joined`);
  }
  ui = await new Webui(cp.base).start();
});

after(async () => {
  await ui?.cleanup();
  for (const a of agents) await a.cleanup();
  await cp?.cleanup();
});

// What an unauthorized call must not change: every list of the API (by
// the fields a refused write would touch) and the data directory's files.
async function cpState() {
  const list = async (path, key, pick) => {
    const r = await cp.get(`${path}?limit=1000`);
    assert.equal(r.status, 200, path);
    return r.body[key].map(pick).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  };
  return {
    sizes: await list('/v1/sizes', 'sizes', (s) => [s.id, s.name]),
    images: await list('/v1/images', 'images', (i) => [i.id, i.name, i.url]),
    keys: await list('/v1/ssh-keys', 'ssh_keys', (k) => [k.id, k.name]),
    hosts: await list('/v1/hosts', 'hosts', (h) => [h.id, h.name, h.drained]),
    vms: await list('/v1/vms', 'vms', (v) => [v.id, v.name, v.desired_state]),
    operations: await list('/v1/operations', 'operations', (o) => [o.id, o.type]),
    runs: await list('/v1/runs', 'runs', (r) => [r.id]),
    snapshots: (await cp.get(`/v1/vms/${ids.vm}/snapshots`)).body,
    files: dirListing(cp.dataDir),
  };
}

function assertRefused(r, status, what) {
  assert.equal(r.status, status, `${what}: expected ${status}, got ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
  assert.equal(typeof r.body, 'object', `${what}: a JSON body`);
  const e = r.body?.error;
  assert.ok(e && typeof e.code === 'string' && typeof e.message === 'string' && e.message.length > 0 && 'field' in e,
    `${what}: the API's error shape, got ${JSON.stringify(r.body).slice(0, 200)}`);
  assert.equal(e.code, status === 401 ? 'unauthorized' : 'forbidden', what);
  if (status === 401) assert.equal(r.headers.get('www-authenticate'), 'Bearer', `${what}: WWW-Authenticate`);
}

// Every control plane route: who may call it (the admin unless said), a
// concrete path on real resources and the body that would change something
// if the call were let through.
function cpCases() {
  const hostJoin = {
    name: 'authz-intruder', address: '127.0.0.1', api_url: 'http://127.0.0.1:9', architecture: 'x86_64',
    accelerators: ['tcg'], vcpus: 8, memory_mib: 8192, disk_gib: 100, qemu_version: '7.2.0', order_token: 'cuord_intruder',
  };
  const snap = 'snap-00000000000000aa';
  return {
    'GET /v1/health': { access: 'public', path: '/v1/health' },
    'GET /v1/openapi.json': { path: '/v1/openapi.json' },
    'GET /metrics': { path: '/metrics' },
    'GET /v1/sizes': { path: '/v1/sizes' },
    'POST /v1/sizes': { path: '/v1/sizes', body: { name: 'authz-new-size', vcpus: 1, memory_mib: 256, disk_gib: 1 } },
    'GET /v1/sizes/{id}': { path: `/v1/sizes/${ids.size}` },
    'DELETE /v1/sizes/{id}': { path: '/v1/sizes/s-1vcpu-1gb' },
    'GET /v1/images': { path: '/v1/images' },
    'POST /v1/images': {
      path: '/v1/images', body: {
        name: 'authz-new-image', os: 'debian', version: '12', architecture: 'x86_64', url: 'http://127.0.0.1:9/x.qcow2',
        checksum: 'sha256:' + '1'.repeat(64), login_user: 'debian',
      },
    },
    'POST /v1/images/import': { path: '/v1/images/import', body: { manifest: '/nonexistent/manifest.json', name: 'authz-import' } },
    'POST /v1/images/bake': { path: '/v1/images/bake', body: { name: 'authz-baked', image: 'authz-image', size: 'authz-size', user_data: '#cloud-config\n{}\n' } },
    'GET /v1/images/{id}/files/{file}': { access: 'admin+agent', path: `/v1/images/${ids.image}/files/disk.qcow2` },
    'GET /v1/images/{id}': { path: `/v1/images/${ids.image}` },
    'DELETE /v1/images/{id}': { path: '/v1/images/debian-12-amd64' },
    'GET /v1/ssh-keys': { path: '/v1/ssh-keys' },
    'POST /v1/ssh-keys': { path: '/v1/ssh-keys', body: { name: 'authz-new-key', public_key: makeKey().publicKey } },
    'GET /v1/ssh-keys/{id}': { path: `/v1/ssh-keys/${ids.key}` },
    'DELETE /v1/ssh-keys/{id}': { path: `/v1/ssh-keys/${ids.key}` },
    'GET /v1/hosts': { path: '/v1/hosts' },
    'GET /v1/hosts/{id}': { path: `/v1/hosts/${fakeHost.id}` },
    'POST /v1/hosts/{id}/actions': { path: `/v1/hosts/${fakeHost.id}/actions`, body: { type: 'drain' } },
    'POST /v1/hosts/join': { access: 'join', path: '/v1/hosts/join', body: hostJoin },
    'POST /v1/hosts/{id}/heartbeat': {
      access: 'agent', path: `/v1/hosts/${fakeHost.id}/heartbeat`,
      body: { free_vcpus: 1, free_memory_mib: 1, free_disk_gib: 1, vms: [], api_url: 'http://127.0.0.1:10' },
    },
    'GET /v1/vms': { path: '/v1/vms' },
    'POST /v1/vms': { path: '/v1/vms', body: { name: 'authz-new-vm', size: 'authz-size', image: 'authz-image', ssh_keys: ['authz-key'] } },
    'GET /v1/vms/{id}': { path: `/v1/vms/${ids.vm}` },
    'DELETE /v1/vms/{id}': { path: `/v1/vms/${ids.vm}` },
    'POST /v1/vms/{id}/actions': { path: `/v1/vms/${ids.vm}/actions`, body: { type: 'stop' } },
    'GET /v1/vms/{id}/cloud-init': { path: `/v1/vms/${ids.vm}/cloud-init` },
    'POST /v1/vms/{id}/console': { path: `/v1/vms/${ids.vm}/console`, body: {} },
    'GET /v1/vms/{id}/screenshot': { path: `/v1/vms/${ids.vm}/screenshot` },
    'GET /v1/vms/{id}/stats': { path: `/v1/vms/${ids.vm}/stats` },
    'GET /v1/vms/{id}/snapshots': { path: `/v1/vms/${ids.vm}/snapshots` },
    'POST /v1/vms/{id}/snapshots': { path: `/v1/vms/${ids.vm}/snapshots`, body: { name: 'authz-snap' } },
    'GET /v1/vms/{id}/snapshots/{snapshot}': { path: `/v1/vms/${ids.vm}/snapshots/${snap}` },
    'DELETE /v1/vms/{id}/snapshots/{snapshot}': { path: `/v1/vms/${ids.vm}/snapshots/${snap}` },
    'POST /v1/vms/{id}/snapshots/{snapshot}/restore': { path: `/v1/vms/${ids.vm}/snapshots/${snap}/restore`, body: {} },
    'POST /v1/snapshots/{id}/image': { path: `/v1/snapshots/${snap}/image`, body: { name: 'authz-from-snap' } },
    'GET /v1/operations': { path: '/v1/operations' },
    'GET /v1/operations/{id}': { path: `/v1/operations/${ids.op}` },
    'GET /v1/operations/{id}/wait': { path: `/v1/operations/${ids.op}/wait?timeout=1` },
    'GET /v1/events': { path: '/v1/events' },
    'GET /v1/runs': { path: '/v1/runs' },
    'POST /v1/runs': { path: '/v1/runs', body: { image: 'authz-image', size: 'authz-size', command: ['true'] } },
    'GET /v1/runs/{id}': { path: '/v1/runs/run-00000000000000aa' },
    'DELETE /v1/runs/{id}': { path: '/v1/runs/run-00000000000000aa' },
    'GET /v1/runs/{id}/output': { path: '/v1/runs/run-00000000000000aa/output' },
  };
}

// The credentials each kind of route must refuse, with the status.
function refusals(access) {
  const agentToken = agents[0].creds.agent_token;
  const base = [['no token', null, 401], ['a wrong token', wrongToken, 401]];
  switch (access) {
    case 'admin': return [...base, ["an agent's token", agentToken, 403], ['the join token', joinToken, 403]];
    case 'admin+agent': return [...base, ['the join token', joinToken, 403]];
    case 'agent': return [...base, ['the admin token', cp.token, 403], ['the join token', joinToken, 403],
      ["another host's agent token", agentToken, 403]];
    case 'join': return [...base, ['the admin token', cp.token, 403], ["an agent's token", agentToken, 403]];
    default: throw new Error(`no refusals for access '${access}'`);
  }
}

const accessOf = (c) => c.access ?? 'admin';

test('the control plane: every route has a case, and every case a route, with the same access', () => {
  const table = routeTable('controlplane/api.c', 'cp_routes');
  const routes = table.map((r) => r.key).sort();
  const cases = cpCases();
  assert.deepEqual(Object.keys(cases).filter((k) => !routes.includes(k)), [], 'cases without a route');
  assert.deepEqual(routes.filter((k) => !(k in cases)), [], 'routes without a case here: add one');
  for (const r of table) assert.equal(cpAccess(r.roles), accessOf(cases[r.key]), `who may call ${r.key} (${r.roles})`);
});

test('the control plane: the public routes are the listed ones and answer without a token', async () => {
  const cases = cpCases();
  const publicRoutes = Object.keys(cases).filter((k) => accessOf(cases[k]) === 'public');
  assert.deepEqual(publicRoutes, ['GET /v1/health'], 'only health is public');
  for (const key of publicRoutes) assert.equal((await cp.get(cases[key].path, { token: null })).status, 200, key);
});

test('the control plane: every route refuses a missing, wrong or misplaced credential, changing nothing', async () => {
  const cases = cpCases();
  const before = await cpState();
  let calls = 0;
  for (const route of routeTable('controlplane/api.c', 'cp_routes')) {
    const c = cases[route.key];
    if (accessOf(c) === 'public') continue;
    for (const [who, token, status] of refusals(accessOf(c))) {
      const r = await cp.request(route.method, c.path, c.body, { token });
      assertRefused(r, status, `${route.key} with ${who}`);
      calls++;
    }
  }
  assert.deepEqual(await cpState(), before, 'nothing changed');
  assert.ok(calls > 150, `${calls} calls`);
});

test('the control plane: the right credential passes the same gates (the matrix is not vacuous)', async () => {
  const r = await cp.get('/v1/images/' + ids.image + '/files/disk.qcow2', { token: agents[0].creds.agent_token });
  assert.equal(r.status, 404, 'an agent may fetch image files: only the file is missing');
  const hb = await cp.post(`/v1/hosts/${fakeHost.id}/heartbeat`,
    { free_vcpus: 64, free_memory_mib: 262144, free_disk_gib: 10000, vms: [] }, { token: fakeAgentToken });
  assert.equal(hb.status, 200, JSON.stringify(hb.body));
  assert.equal((await cp.get(`/v1/vms/${ids.vm}`)).status, 200);
  // A valid token of a kind no route takes is still refused with the shape.
  assertRefused(await cp.get('/v1/vms', { token: 'Bearer' }), 401, 'a token that is the word Bearer');
  assertRefused(await cp.get('/v1/vms', { token: `${cp.token}x` }), 401, 'the admin token with a byte more');
  assertRefused(await cp.get('/v1/vms', { token: cp.token.slice(0, -1) }), 401, 'the admin token with a byte less');
  const basic = await cp.get('/v1/vms', { token: null, headers: { Authorization: `Basic ${Buffer.from(`admin:${cp.token}`).toString('base64')}` } });
  assertRefused(basic, 401, 'Basic authentication');
});

// ---- the agent's order API ---------------------------------------------

function agentCases() {
  const vm = 'vm-00000000000000aa';
  const spec = { id: vm, name: 'intruder', vcpus: 1, memory_mib: 128, disk_gib: 1 };
  return {
    'GET /v1/health': { access: 'public', path: '/v1/health' },
    'GET /metrics': { path: '/metrics' },
    'GET /v1/vms': { path: '/v1/vms' },
    'GET /v1/vms/{id}': { path: `/v1/vms/${vm}` },
    'PUT /v1/vms/{id}': { path: `/v1/vms/${vm}`, body: spec },
    'DELETE /v1/vms/{id}': { path: `/v1/vms/${vm}` },
    'GET /v1/vms/{id}/exports/{image}': { path: `/v1/vms/${vm}/exports/img-00000000000000aa` },
    'GET /v1/vms/{id}/screenshot': { path: `/v1/vms/${vm}/screenshot` },
    'GET /v1/vms/{id}/stats': { path: `/v1/vms/${vm}/stats` },
  };
}

async function agentRequest(a, method, path, body, token) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(`http://127.0.0.1:${a.port}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let parsed = text;
  try { parsed = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, body: parsed };
}

test("the agent: every order route has a case, and every case a route", () => {
  const routes = routeTable('agent/agent_api.c', 'agent_routes').map((r) => r.key).sort();
  const cases = Object.keys(agentCases()).sort();
  assert.deepEqual(cases.filter((k) => !routes.includes(k)), [], 'cases without a route');
  assert.deepEqual(routes.filter((k) => !cases.includes(k)), [], 'routes without a case here: add one');
  // The rest are ROLE_CONTROL_PLANE: the one role the order token gives.
  for (const r of routeTable('agent/agent_api.c', 'agent_routes'))
    assert.equal(r.roles, accessOf(agentCases()[r.key]) === 'public' ? '0' : 'ROLE_CONTROL_PLANE', `who may call ${r.key}`);
});

test("the agent: orders need this agent's order token, not the admin's, not another host's", async () => {
  const [a, b] = agents;
  const cases = agentCases();
  const vmsOf = async (x) => (await agentRequest(x, 'GET', '/v1/vms', undefined, x.creds.order_token)).body;
  const beforeVms = await vmsOf(a);
  assert.deepEqual(beforeVms, { vms: [] });
  const beforeFiles = dirListing(a.dataDir);
  const credentials = [
    ['no token', null], ['a wrong token', 'cuord_' + 'x'.repeat(43)], ['the admin token', cp.token],
    ['the join token', joinToken], ["this agent's own control plane token", a.creds.agent_token],
    ["another host's order token", b.creds.order_token], ["another host's agent token", b.creds.agent_token],
  ];
  let calls = 0;
  for (const route of routeTable('agent/agent_api.c', 'agent_routes')) {
    const c = cases[route.key];
    if (accessOf(c) === 'public') {
      assert.equal((await agentRequest(a, route.method, c.path, undefined, null)).status, 200, route.key);
      continue;
    }
    for (const [who, token] of credentials) {
      const r = await agentRequest(a, route.method, c.path, c.body, token);
      assertRefused(r, 401, `agent ${route.key} with ${who}`);
      calls++;
    }
  }
  assert.equal(calls, 7 * (Object.keys(cases).length - 1));
  assert.deepEqual(await vmsOf(a), beforeVms, 'no VM made or removed');
  assert.deepEqual(a.vmIds(), []);
  assert.deepEqual(dirListing(a.dataDir), beforeFiles, 'no file written');
  // The right token passes: the same call answers.
  const ok = await agentRequest(a, 'GET', cases['GET /v1/vms/{id}'].path, undefined, a.creds.order_token);
  assert.equal(ok.status, 404, JSON.stringify(ok.body));
});

// ---- the webui's /api proxy ---------------------------------------------

test('the webui passes authentication through: no token is the control plane\'s 401', async () => {
  const via = async (method, path, token, body) => {
    const headers = body ? { 'Content-Type': 'application/json' } : {};
    if (token) headers.Authorization = `Bearer ${token}`;
    const res = await fetch(`${ui.base}/api${path}`, { method, headers, body: body && JSON.stringify(body) });
    const text = await res.text();
    let parsed = text;
    try { parsed = JSON.parse(text); } catch { /* not JSON */ }
    return { status: res.status, headers: res.headers, body: parsed };
  };
  const before = await cpState();
  // A 401 comes with the control plane's WWW-Authenticate (assertRefused checks it).
  assertRefused(await via('GET', '/v1/vms', null), 401, 'webui GET /v1/vms without a token');
  assertRefused(await via('GET', '/v1/vms', wrongToken), 401, 'webui GET /v1/vms with a wrong token');
  assertRefused(await via('POST', '/v1/ssh-keys', null, { name: 'via-ui', public_key: makeKey().publicKey }), 401, 'webui POST without a token');
  assertRefused(await via('DELETE', `/v1/vms/${ids.vm}`, agents[0].creds.agent_token), 403, "webui DELETE with an agent's token");
  assertRefused(await via('POST', `/v1/hosts/${fakeHost.id}/heartbeat`, cp.token, { free_vcpus: 1, free_memory_mib: 1, free_disk_gib: 1, vms: [] }), 403,
    'webui heartbeat with the admin token');
  assert.deepEqual(await cpState(), before, 'nothing changed');
  assert.equal((await via('GET', '/v1/vms', cp.token)).status, 200, 'the admin token passes');
});
