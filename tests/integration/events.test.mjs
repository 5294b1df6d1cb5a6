// Events: every state change recorded with a timestamp, GET /v1/events
// in order and in pages, and the live stream (?follow=true, Server-Sent
// Events): an event arrives within a second of the change, Last-Event-ID
// resumes without losing one, streams do not hold up other requests, and
// SIGTERM ends them and stops the daemon promptly.  The host is joined
// through the API and answered by a stand-in agent (an HTTP server that
// takes every order), so orders, reports and deletes run their real paths
// without QEMU.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startControlPlane } from './lib/controlplane.mjs';
import { makeKey } from './lib/keys.mjs';

let cp, agent, host, agentToken;
const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

// Takes every order (PUT 200) and has no VM left to destroy (DELETE 404).
async function standInAgent() {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(req.method === 'PUT' ? 200 : 404, { 'Content-Type': 'application/json' });
      res.end(req.method === 'PUT' ? '{}' : '{"error": {"code": "not_found", "message": "no such VM"}}');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

before(async () => {
  cp = await startControlPlane({ extraArgs: ['--host-timeout', '3600'] });
  agent = await standInAgent();
  const joinToken = readFileSync(join(cp.dataDir, 'join-token'), 'utf8').trim();
  const r = await cp.post('/v1/hosts/join', {
    name: 'host-a', address: '127.0.0.1', api_url: `http://127.0.0.1:${agent.address().port}`,
    architecture: 'x86_64', accelerators: ['tcg'], vcpus: 8, memory_mib: 16384, disk_gib: 500,
    qemu_version: '7.2.0', order_token: 'cuord_stand-in',
  }, { token: joinToken });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  ({ host, agent_token: agentToken } = r.body);
  assert.equal((await cp.post('/v1/ssh-keys', { name: 'k', public_key: makeKey().publicKey })).status, 201);
});
after(async () => {
  await cp.cleanup();
  agent.close();
});

// A report from the host, as its agent would send it.
function heartbeat(vms) {
  return cp.post(`/v1/hosts/${host.id}/heartbeat`,
    { free_vcpus: 8, free_memory_mib: 16384, free_disk_gib: 500, vms }, { token: agentToken });
}

// Parses one Server-Sent Events block into {id, event, data, retry, comments}.
function parseBlock(text) {
  const b = { comments: [] };
  for (const line of text.split('\n')) {
    if (line.startsWith(':')) { b.comments.push(line.slice(1).trim()); continue; }
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
    b[field] = field === 'data' && b.data !== undefined ? `${b.data}\n${value}` : value;
  }
  return b;
}

// GET /v1/events?follow=true&QUERY, read as it comes: `blocks` (every
// block with the time it arrived), `events` (those with data, parsed).
// A 503 (too many streams) is tried again for a few seconds: the server
// takes up to a second to notice that a client closed a stream.
async function openStream(query = '', headers = {}, { retry = true } = {}) {
  const ac = new AbortController();
  const deadline = Date.now() + 5000;
  let res;
  for (;;) {
    res = await fetch(`${cp.base}/v1/events?follow=true${query}`, {
      headers: { Authorization: `Bearer ${cp.token}`, ...headers }, signal: ac.signal,
    });
    if (res.status !== 503 || !retry || Date.now() > deadline) break;
    await res.arrayBuffer();
    await new Promise((r) => setTimeout(r, 100));
  }
  const s = { res, blocks: [], events: [], ended: null };
  if (res.status !== 200) return s;
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  s.done = (async () => {
    let buf = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        for (let i; (i = buf.indexOf('\n\n')) >= 0; buf = buf.slice(i + 2)) {
          const b = { ...parseBlock(buf.slice(0, i)), at: Date.now() };
          s.blocks.push(b);
          if (b.data !== undefined) s.events.push({ ...JSON.parse(b.data), at: b.at, sseId: b.id, sseEvent: b.event });
        }
      }
      s.ended = 'end';
    } catch (e) {
      s.ended = ac.signal.aborted ? 'closed' : `error: ${e.message}`;
    }
  })();
  s.close = () => { ac.abort(); return s.done; };
  s.waitFor = async (pred, what, ms = 5000) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const e = s.events.find(pred);
      if (e) return e;
      if (Date.now() > deadline) throw new Error(`no ${what} on the stream within ${ms} ms; got ${s.events.map((x) => x.type)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  return s;
}

const list = async (query = '') => {
  const r = await cp.get(`/v1/events?limit=1000${query}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.events;
};
const lastSeq = async () => (await list()).at(-1).seq;
async function until(cond, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`not so within ${ms} ms: ${cond}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("a VM's life is recorded in order, with timestamps, and streamed within a second", async () => {
  const s = await openStream();
  assert.equal(s.res.status, 200);
  assert.match(s.res.headers.get('content-type'), /^text\/event-stream/);
  const start = await lastSeq();

  let t0 = Date.now();
  const created = await cp.post('/v1/vms', { name: 'web-1', size: 's-1vcpu-1gb', image: 'debian-12-amd64', ssh_keys: ['k'] });
  assert.equal(created.status, 202);
  const vmId = created.body.vm.id;
  const first = await s.waitFor((e) => e.type === 'vm.created', 'vm.created');
  assert.ok(first.at - t0 < 1000, `vm.created arrived after ${first.at - t0} ms`);
  assert.deepEqual(first.target, { type: 'vm', id: vmId, name: 'web-1' });
  assert.equal(first.data.host, 'host-a');
  assert.equal(first.sseId, String(first.seq));
  assert.equal(first.sseEvent, 'vm.created');

  // The order reaches the stand-in agent; then the host reports the VM up.
  await s.waitFor((e) => e.type === 'operation.status_changed' && e.data.new === 'running', 'operation running');
  const report = {
    id: vmId, state: 'running', accepted_generation: 1, applied_generation: 1, ssh_port: 2222,
    progress: 100, message: 'running', error: null,
    guest: { state: 'ready', message: 'cloud-init finished', boot_seconds: 7, timed_out: false },
  };
  assert.equal((await heartbeat([report])).status, 200);
  const done = await s.waitFor((e) => e.type === 'operation.status_changed' && e.data.new === 'succeeded', 'operation succeeded');
  assert.equal(done.data.operation.id, created.body.operation.id);
  // A name means the resource that has it now: its events, by id.
  const byName = await list('&target=web-1');
  assert.deepEqual(byName, await list(`&target=${vmId}`));
  assert.equal(byName.length, 6);
  // The same report again changes nothing, so it records nothing.
  const quiet = await lastSeq();
  assert.equal((await heartbeat([report])).status, 200);

  t0 = Date.now();
  assert.equal((await cp.post('/v1/hosts/host-a/actions', { type: 'drain' })).status, 200);
  const drained = await s.waitFor((e) => e.type === 'host.drained', 'host.drained');
  assert.ok(drained.at - t0 < 1000, `host.drained arrived after ${drained.at - t0} ms`);
  assert.equal(drained.seq, quiet + 1, 'the repeated heartbeat recorded nothing');
  assert.equal((await cp.post('/v1/hosts/host-a/actions', { type: 'drain' })).status, 200); // no change
  assert.equal((await cp.post('/v1/hosts/host-a/actions', { type: 'return' })).status, 200);
  await s.waitFor((e) => e.type === 'host.returned', 'host.returned');

  assert.equal((await cp.del('/v1/vms/web-1')).status, 202);
  const gone = await s.waitFor((e) => e.type === 'vm.deleted', 'vm.deleted');
  assert.equal(gone.target.id, vmId);
  assert.equal((await cp.get('/v1/vms/web-1')).status, 404);

  const vmEvents = (await list(`&target=${vmId}`)).map((e) => [e.type, e.data.new ?? e.data.operation?.type ?? '']);
  assert.deepEqual(vmEvents, [
    ['vm.created', ''], ['operation.created', 'vm.create'], ['operation.status_changed', 'running'],
    ['vm.state_changed', 'running'], ['vm.guest_state_changed', 'ready'], ['operation.status_changed', 'succeeded'],
    ['vm.desired_state_changed', 'deleted'], ['vm.state_changed', 'deleting'], ['operation.created', 'vm.delete'],
    ['operation.status_changed', 'succeeded'], ['vm.deleted', ''],
  ]);
  assert.ok((await list(`&target=${vmId}`)).every((e) => e.target.name === 'web-1'));
  assert.deepEqual(await list('&target=web-1'), [], 'a deleted VM is found by its id');

  // Every event: increasing seq, an id, a millisecond UTC time not going back.
  const all = await list();
  assert.equal(all[0].type, 'host.joined');
  for (let i = 0; i < all.length; i++) {
    const e = all[i];
    assert.deepEqual(Object.keys(e), ['seq', 'id', 'time', 'type', 'target', 'data']);
    assert.match(e.id, /^evt-[0-9a-f]{16}$/);
    assert.match(e.time, TIME);
    if (i > 0) {
      assert.ok(e.seq > all[i - 1].seq);
      assert.ok(e.time >= all[i - 1].time, `${e.time} after ${all[i - 1].time}`);
    }
  }
  // The stream got exactly what the list shows after where it started.
  assert.equal(s.blocks[0].retry, '3000');
  assert.equal(s.blocks[0].id, String(start));
  await s.waitFor((e) => e.seq === all.at(-1).seq, 'the last event');
  assert.deepEqual(s.events.map((e) => e.seq), all.filter((e) => e.seq > start).map((e) => e.seq));
  assert.deepEqual(s.events.map(({ at, sseId, sseEvent, ...e }) => e), all.filter((e) => e.seq > start));
  assert.equal(await s.close(), undefined);
});

test('pages follow next, filters stay in it, and bad queries get 400', async () => {
  const all = await list();
  assert.ok(all.length >= 10, `${all.length} events`);
  const seen = [];
  let next = '/v1/events?limit=3';
  while (next) {
    const page = await cp.get(next);
    assert.equal(page.status, 200);
    assert.ok(page.body.events.length <= 3);
    seen.push(...page.body.events);
    if (page.body.next) assert.match(page.body.next, /^\/v1\/events\?limit=3&after=\d+$/);
    next = page.body.next;
  }
  assert.deepEqual(seen, all);

  const hostEvents = all.filter((e) => e.type.startsWith('host.'));
  const firstPage = await cp.get('/v1/events?type=host.&limit=1');
  assert.match(firstPage.body.next, /^\/v1\/events\?type=host\.&limit=1&after=\d+$/);
  assert.deepEqual(await list('&type=host.'), hostEvents);
  assert.deepEqual(await list(`&target=${host.id}`), hostEvents);
  assert.deepEqual(await list('&target=host-a'), hostEvents);
  assert.deepEqual((await list('&type=host.drained')).map((e) => e.type), ['host.drained']);
  assert.deepEqual(await list(`&after=${all.at(-1).seq}`), []);
  assert.deepEqual(await list('&target=nothing-here'), []);

  const bad = [
    ['after=-1', 'after'], ['after=abc', 'after'], ['limit=0', 'limit'], ['limit=100000', 'limit'],
    ['limit=', 'limit'], ['type=VM', 'type'], ['type=', 'type'], ['type=vm%20x', 'type'],
    ['target=Not_A_Name', 'target'], ['follow=yes', 'follow'],
  ];
  for (const [q, field] of bad) {
    const r = await cp.get(`/v1/events?${q}`);
    assert.equal(r.status, 400, `${q}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error.code, 'invalid_field', q);
    assert.equal(r.body.error.field, field, q);
    assert.ok(r.body.error.message.includes(field), `${q}: ${r.body.error.message}`);
  }
  const lei = await cp.get('/v1/events?follow=true', { headers: { 'Last-Event-ID': 'yesterday' } });
  assert.equal(lei.status, 400);
  assert.equal(lei.body.error.field, 'Last-Event-ID');
  // Like every list, unknown query parameters are ignored.
  assert.equal((await cp.get('/v1/events?colour=blue')).status, 200);
  assert.equal((await cp.get('/v1/events', { token: null })).status, 401);
  assert.equal((await cp.get('/v1/events?follow=true', { token: 'nope' })).status, 401);
});

test('a stream resumes after Last-Event-ID (or after=) without losing an event', async () => {
  const s1 = await openStream('&type=host.');
  await cp.post('/v1/hosts/host-a/actions', { type: 'drain' });
  const seen = await s1.waitFor((e) => e.type === 'host.drained', 'host.drained');
  await s1.close();
  // Meanwhile, with nobody listening:
  await cp.post('/v1/hosts/host-a/actions', { type: 'return' });
  await cp.post('/v1/vms', { name: 'web-2', size: 's-1vcpu-1gb', image: 'debian-12-amd64', ssh_keys: ['k'] });
  await until(async () => (await list('&target=web-2&type=operation.status_changed')).length === 1);
  await cp.post('/v1/hosts/host-a/actions', { type: 'drain' });
  await cp.post('/v1/hosts/host-a/actions', { type: 'return' });
  const missed = (await list(`&after=${seen.seq}`));
  const missedHost = missed.filter((e) => e.type.startsWith('host.'));
  assert.deepEqual(missedHost.map((e) => e.type), ['host.returned', 'host.drained', 'host.returned']);

  // As EventSource reconnects: the header wins over after=.
  const s2 = await openStream('&type=host.&after=0', { 'Last-Event-ID': String(seen.seq) });
  await s2.waitFor((e) => e.seq === missedHost.at(-1).seq, 'the last missed event');
  assert.equal(s2.blocks[0].id, String(seen.seq));
  assert.deepEqual(s2.events.map((e) => e.seq), missedHost.map((e) => e.seq));
  await s2.close();
  const s3 = await openStream(`&after=${seen.seq}`);
  await s3.waitFor((e) => e.seq === missed.at(-1).seq, 'the last missed event');
  assert.deepEqual(s3.events.map((e) => e.seq), missed.map((e) => e.seq));
  await s3.close();
  const s4 = await openStream('&after=0&limit=1');
  await s4.waitFor((e) => e.seq === missed.at(-1).seq, 'the last event');
  assert.deepEqual(s4.events.map((e) => e.seq), (await list()).map((e) => e.seq));
  await s4.close();
});

test('streams do not hold up other requests; at most 64 are open', async () => {
  const streams = [];
  for (let i = 0; i < 64; i++) streams.push(await openStream());
  assert.ok(streams.every((s) => s.res.status === 200));
  const t0 = Date.now();
  const r = await cp.get('/v1/vms');
  assert.equal(r.status, 200);
  assert.ok(Date.now() - t0 < 1000, `GET /v1/vms took ${Date.now() - t0} ms with 64 streams open`);
  const wait = cp.get(`/v1/operations/${(await cp.get('/v1/operations?limit=1')).body.operations[0].id}/wait?timeout=0`);
  assert.equal((await wait).status, 200);
  const more = await openStream('', {}, { retry: false });
  assert.equal(more.res.status, 503);
  const body = await more.res.json();
  assert.equal(body.error.code, 'too_many_streams');
  // Every one of them hears the next change.
  await cp.post('/v1/hosts/host-a/actions', { type: 'drain' });
  await Promise.all(streams.map((s) => s.waitFor((e) => e.type === 'host.drained', 'host.drained')));
  await Promise.all(streams.map((s) => s.close()));
  // The server notices the closed streams within a second or so.
  const t1 = Date.now();
  const again = await openStream();
  assert.equal(again.res.status, 200);
  assert.ok(Date.now() - t1 < 3000, `a stream could open again after ${Date.now() - t1} ms`);
  await again.close();
  await cp.post('/v1/hosts/host-a/actions', { type: 'return' });
});

test('an idle stream gets a keep-alive comment about every 15 s', async () => {
  const s = await openStream('&type=nothing.');
  assert.equal(s.res.status, 200);
  const t0 = Date.now();
  const deadline = t0 + 20000;
  while (!s.blocks.some((b) => b.comments.includes('keep-alive')) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const ka = s.blocks.find((b) => b.comments.includes('keep-alive'));
  assert.ok(ka, 'a keep-alive within 20 s');
  assert.ok(ka.at - t0 > 13000 && ka.at - t0 < 17000, `keep-alive after ${ka.at - t0} ms`);
  assert.equal(s.events.length, 0);
  await s.close();
});

test('SIGTERM with streams open: they end and the control plane stops promptly', async () => {
  const streams = [await openStream(), await openStream('&type=vm.'), await openStream('&after=0')];
  await streams[2].waitFor((e) => e.type === 'host.joined', 'the first event');
  const t0 = Date.now();
  const exit = await cp.stop('SIGTERM');
  const took = Date.now() - t0;
  assert.deepEqual(exit, { code: 0, signal: null }, cp.log.slice(-4000));
  assert.ok(took < 5000, `stopped after ${took} ms`);
  await Promise.all(streams.map((s) => s.done));
  assert.deepEqual(streams.map((s) => s.ended), ['end', 'end', 'end']);
});
