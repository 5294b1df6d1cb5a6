// events.js: the control plane's live events.  GET /v1/events?follow=true
// is a Server-Sent Events stream, but EventSource cannot send the
// Authorization header, so the stream is read with fetch and a
// ReadableStream and its lines parsed here.  Each event goes to the
// subscribers whose type prefix matches ('vm.', 'operation.', ...).  After a
// drop it reconnects with after=<last seq seen>, so nothing is missed.
// Views also hear when the stream is live again ('live'), to reload what
// they show in case they missed something while it was down.
import { request } from './api.js';

const subscribers = new Set();
const statusListeners = new Set();
let controller = null;
let lastSeq = null;
let retryMs = 3000;
let state = 'closed';

// fn(event) for each event whose type starts with one of `prefixes`;
// returns the function that unsubscribes.
export function subscribe(prefixes, fn) {
  const sub = { prefixes: [].concat(prefixes), fn };
  subscribers.add(sub);
  return () => subscribers.delete(sub);
}

// fn(state) on 'live', 'reconnecting' or 'closed'; returns the unsubscriber.
export function onStatus(fn) {
  statusListeners.add(fn);
  return () => statusListeners.delete(fn);
}

export const status = () => state;

function setState(next) {
  if (state === next) return;
  state = next;
  for (const fn of statusListeners) fn(state);
}

export function start() {
  if (controller) return;
  controller = new AbortController();
  run(controller.signal);
}

export function stop() {
  controller?.abort();
  controller = null;
  lastSeq = null;
  setState('closed');
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

async function run(signal) {
  while (!signal.aborted) {
    const began = Date.now();
    try {
      await follow(signal);
      // A stream that ran a while and ended (a proxy closing an idle
      // connection, say) is picked up again at once, from its cursor.
      if (Date.now() - began > 2000 && !signal.aborted) continue;
    } catch (err) {
      if (signal.aborted) return;
      if (err.status === 401) return; // the app signs out (api.onUnauthorized)
      // A cursor refused (e.g. older than what is kept): start from now;
      // the views reload everything when the stream is live again.
      if (err.status === 400) lastSeq = null;
    }
    if (signal.aborted) return;
    setState('reconnecting');
    await sleep(retryMs, signal);
  }
}

// One connection: reads until the stream ends or fails.
async function follow(signal) {
  const after = lastSeq === null ? '' : `&after=${lastSeq}`;
  const res = await request('GET', `/v1/events?follow=true${after}`, undefined, { signal, raw: true });
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new SseParser(onBlock);
  setState('live');
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    parser.push(value);
  }
}

// A block of the stream: `id` moves the cursor (the stream opens with an
// id-only block naming where it starts), `retry` sets the reconnect delay.
function onBlock({ id, type, data, retry }) {
  if (retry !== null && retry > 0) retryMs = retry;
  if (id !== null && /^\d+$/.test(id)) lastSeq = id;
  if (data === null) return;
  let event;
  try {
    event = JSON.parse(data);
  } catch {
    return; // not an event of the API's shape: nothing to do with it
  }
  event.type ??= type;
  for (const sub of subscribers) {
    if (sub.prefixes.some((p) => event.type.startsWith(p))) {
      try {
        sub.fn(event);
      } catch (err) {
        console.error('an event subscriber failed', err);
      }
    }
  }
}

// The text/event-stream format: lines ending in \n, \r\n or \r; "field:
// value" lines; ":" starts a comment; a blank line ends a block.
export class SseParser {
  constructor(onBlock) {
    this.onBlock = onBlock;
    this.buffer = '';
    this.afterCR = false;
    this.reset();
  }

  reset() {
    this.block = { id: null, type: null, data: null, retry: null };
  }

  push(text) {
    // A \r ends a line at once; a \n right after it (the rest of \r\n,
    // maybe in the next chunk) ends nothing more.
    if (this.afterCR && text.startsWith('\n')) text = text.slice(1);
    if (text) this.afterCR = text.endsWith('\r');
    this.buffer += text;
    const lines = this.buffer.split(/\r\n|\r|\n/);
    this.buffer = lines.pop();
    for (const line of lines) this.line(line);
  }

  line(line) {
    if (line === '') {
      const block = this.block;
      this.reset();
      if (block.id !== null || block.data !== null || block.retry !== null) this.onBlock(block);
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (name === 'data') this.block.data = this.block.data === null ? value : `${this.block.data}\n${value}`;
    else if (name === 'id') this.block.id = value;
    else if (name === 'event') this.block.type = value;
    else if (name === 'retry' && /^\d+$/.test(value)) this.block.retry = Number(value);
  }
}
