// The dashboard's modules that need no page, under node: the Server-Sent
// Events parser (chunks cut anywhere, CRLF, id-only blocks, retry,
// comments), the live event stream's reconnection from the last event
// seen (after=) with a stand-in fetch, the user-data hint of the
// create form, and the CPU and memory series of a VM's graphs.
import { test } from 'node:test';
import assert from 'node:assert/strict';

const STATIC = new URL('../../webui/static/', import.meta.url);

// What api.js reads from the browser: the tab's session storage.
const store = new Map([['cumulus.token', 'cuadm_test']]);
globalThis.sessionStorage = {
  getItem: (k) => store.get(k) ?? null,
  setItem: (k, v) => store.set(k, String(v)),
  removeItem: (k) => store.delete(k),
};

const { SseParser, ...events } = await import(new URL('events.js', STATIC));
const { userDataHint } = await import(new URL('create.js', STATIC));
const { StatsSeries, WINDOW_MS, percentText, unavailableText } = await import(new URL('statseries.js', STATIC));

test('the SSE parser: blocks whatever the chunks, CRLF, multi-line data, id-only blocks, retry, comments', () => {
  const text = 'retry: 1500\nid: 41\n\n: keep-alive\n\nid: 42\nevent: vm.state_changed\ndata: {"a":1}\n\n'
    + 'id: 43\r\ndata: x\r\ndata: y\r\n\r\nid: 44\rdata:no-space\r\r';
  for (const step of [1, 2, 3, 7, text.length]) {
    const blocks = [];
    const parser = new SseParser((b) => blocks.push(b));
    for (let i = 0; i < text.length; i += step) parser.push(text.slice(i, i + step));
    assert.deepEqual(blocks, [
      { id: '41', type: null, data: null, retry: 1500 },
      { id: '42', type: 'vm.state_changed', data: '{"a":1}', retry: null },
      { id: '43', type: null, data: 'x\ny', retry: null },
      { id: '44', type: null, data: 'no-space', retry: null },
    ], `chunks of ${step}`);
  }
});

// A stream of SSE text that ends after its blocks (as a proxy closing it would).
function sseResponse(text) {
  return new Response(new ReadableStream({
    start(c) { c.enqueue(new TextEncoder().encode(text)); c.close(); },
  }), { status: 200, headers: { 'Content-Type': 'text/event-stream' } });
}

const event = (seq, type, id) => `id: ${seq}\nevent: ${type}\ndata: ${JSON.stringify({ seq, type, target: { type: 'vm', id } })}\n\n`;

test('the live events: sent with the Bearer header, to the subscribers of their type, and picked up again after the last one seen', async () => {
  const asked = [];
  let calls = 0;
  globalThis.fetch = async (url, init) => {
    asked.push({ url, auth: init.headers.Authorization });
    calls++;
    if (calls === 1) {
      await new Promise((r) => setTimeout(r, 2100)); // a stream that ran a while
      return sseResponse(`retry: 50\nid: 10\n\n${event(11, 'vm.created', 'vm-a')}${event(12, 'operation.created', 'vm-a')}`);
    }
    if (calls === 2) return sseResponse(event(13, 'vm.state_changed', 'vm-a'));
    return new Promise(() => {}); // then quiet
  };
  const seen = [];
  const off = events.subscribe('vm.', (ev) => seen.push(`${ev.seq} ${ev.type}`));
  const states = [];
  const offStatus = events.onStatus((s) => states.push(s));
  events.start();
  const deadline = Date.now() + 10000;
  while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  events.stop();
  off();
  offStatus();
  assert.deepEqual(seen, ['11 vm.created', '13 vm.state_changed'], 'vm. events only, none lost or repeated');
  assert.equal(asked[0].url, '/api/v1/events?follow=true');
  assert.equal(asked[1].url, '/api/v1/events?follow=true&after=12', 'resumed after the last event seen');
  assert.ok(asked.every((a) => a.auth === 'Bearer cuadm_test'), 'the token goes in the header');
  assert.ok(asked.every((a) => !a.url.includes('cuadm_')), 'never in the URL');
  assert.equal(states[0], 'live');
  assert.equal(states.at(-1), 'closed');
});

test('the user-data hint says what cloud-init will make of it, and what is wrong', () => {
  assert.equal(userDataHint('').kind, 'ok');
  assert.match(userDataHint('#cloud-config\npackages: [nginx]\n').text, /merged/);
  assert.equal(userDataHint('#cloud-config\n\tpackages: [nginx]\n').kind, 'error');
  assert.match(userDataHint('#cloud-config\n\tpackages: [nginx]\n').text, /Line 2 .*tab/);
  assert.equal(userDataHint('#cloud-config\npackages:[nginx]\n').kind, 'warn');
  assert.match(userDataHint('#!/bin/sh\necho hi\n').text, /script \(\/bin\/sh\)/);
  assert.equal(userDataHint('packages: [nginx]\n').kind, 'error');
  assert.equal(userDataHint(`#!/bin/sh\n${'x'.repeat(70000)}`).kind, 'error');
});

test('the CPU and memory series: CPU % from the counter\'s growth over the sample times, five minutes kept, a restarted QEMU starts again', () => {
  const at = (s) => new Date(Date.UTC(2026, 11, 5, 5, 0, 0) + s * 1000).toISOString();
  const sample = (s, cpu, rss = 100 << 20) => ({ vm_id: 'vm-a', cpu_seconds: cpu, rss_bytes: rss, memory_bytes: 128 << 20, sampled_at: at(s) });
  const series = new StatsSeries();
  assert.equal(series.latest(), null);
  series.add(sample(0, 10));
  assert.deepEqual(series.latest(), { cpuPercent: null, rss: 100 << 20, memory: 128 << 20 }, 'one sample: no CPU % yet');
  series.add(sample(3, 10.6));
  assert.ok(Math.abs(series.latest().cpuPercent - 20) < 1e-9, '0.6 s of CPU in 3 s: 20 %');
  series.add(sample(5, 14.6, 110 << 20)); // two vCPUs busy
  assert.ok(Math.abs(series.latest().cpuPercent - 200) < 1e-9, 'past 100 % with several cores');
  assert.equal(series.latest().rss, 110 << 20);
  series.add(sample(5, 15)); // the same time again: ignored
  series.add(sample(4, 15)); // older: ignored
  assert.equal(series.samples.length, 3);
  assert.deepEqual(series.cpuPercent().map((p) => Math.round(p.v)), [20, 200]);
  assert.deepEqual(series.rss().map((p) => p.v), [100 << 20, 100 << 20, 110 << 20]);

  for (let s = 8; s <= 8 + WINDOW_MS / 1000; s += 3) series.add(sample(s, 15 + s / 100));
  const ts = series.samples.map((x) => x.t);
  assert.ok(ts.at(-1) - ts[0] <= WINDOW_MS, 'no more than five minutes kept');
  assert.ok(ts.at(-1) - ts[0] >= WINDOW_MS - 3000, 'but all of them');

  series.add(sample(400, 0.5)); // the counter went back: a new QEMU
  assert.equal(series.samples.length, 1);
  assert.equal(series.latest().cpuPercent, null);

  assert.equal(percentText(12.345), '12.3 %');
  assert.equal(percentText(201.6), '202 %');
  assert.equal(percentText(null), '–');
  assert.match(unavailableText(null, 'stopped'), /while the VM runs \(it is stopped\)/);
  assert.match(unavailableText({ status: 504, message: 'host \'h\' did not answer' }, 'running'), /unavailable now: host 'h' did not answer/);
});
