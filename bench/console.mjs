// bench/console.mjs: the agent's console proxy (agent/console_proxy.h)
// next to websockify (Debian's package) on the same VNC socket, in one run,
// with the socket itself (no proxy) as the floor.  Two sockets: a tiny-guest
// VM's own (QEMU's VNC server, the real case; it answers on its display
// refresh timer, which bounds every peer alike) and a synthetic RFB server
// (bench/rfb_server.mjs) at another VM's socket path, which answers at once,
// so that what the proxy costs shows.  Run by bench/run-console-bench;
// figures are printed, never asserted.
//
// For 1 and then 50 concurrent viewers of each peer (each an RFB session,
// handshaken, shared, raw encoding):
//   throughput  every viewer asks for the whole screen again and again
//               (non-incremental, raw: width x height x 4 bytes a frame)
//               for SECONDS; MB/s summed over the viewers
//   latency     every viewer asks for one pixel again and again for
//               SECONDS; the round trip's p50 and p99, and what the proxy
//               adds to the socket's own
//   memory      the proxy's proportional set size (PSS, the process and
//               its children: websockify forks one per connection) halfway
//               through the throughput phase, less before the viewers
//               connected, per viewer
// The client is written for the bench (no copy of pixel data, frames parsed
// in place), the same for every peer.
import { spawn } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { request } from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { startControlPlane } from '../tests/integration/lib/controlplane.mjs';
import { Agent, until } from '../tests/integration/lib/agent.mjs';
import { tinyImage } from '../tests/integration/lib/tiny_image.mjs';
import { makeKey } from '../tests/integration/lib/keys.mjs';

const SECONDS = Number(process.env.SECONDS ?? 8);
const VIEWERS = (process.env.VIEWERS ?? '1,50').split(',').map(Number);

// ---- a byte stream that never copies what it skips ---------------------
class ByteQueue {
  constructor() { this.chunks = []; this.length = 0; }
  push(b) { if (b.length) { this.chunks.push(b); this.length += b.length; } }
  take(n) { // the first n bytes, as one Buffer
    const out = Buffer.allocUnsafe(n);
    for (let off = 0; off < n;) off += this.#consume(n - off, out, off);
    return out;
  }
  skip(n) { for (let left = n; left > 0;) left -= this.#consume(left, null, 0); }
  peek(n) { return this.length >= n ? Buffer.concat(this.chunks, n).subarray(0, n) : null; }
  #consume(n, out, off) {
    const c = this.chunks[0], k = Math.min(n, c.length);
    if (out) c.copy(out, off, 0, k);
    if (k === c.length) this.chunks.shift(); else this.chunks[0] = c.subarray(k);
    this.length -= k;
    return k;
  }
}

// An RFB byte stream over a websocket (client side, RFC 6455) or a raw socket.
class Conn {
  constructor(socket, ws, head) {
    this.socket = socket;
    this.ws = ws;
    this.raw = new ByteQueue();
    this.stream = new ByteQueue();
    this.waiter = null;
    this.closed = false;
    socket.setNoDelay(true);
    socket.on('data', (d) => this.#onData(d));
    socket.on('close', () => { this.closed = true; this.#wake(); });
    socket.on('error', () => {});
    if (head?.length) this.#onData(head);
  }

  #onData(d) {
    if (!this.ws) { this.stream.push(d); this.#wake(); return; }
    this.raw.push(d);
    for (;;) {
      const h = this.raw.peek(Math.min(this.raw.length, 10));
      if (!h || h.length < 2) break;
      let len = h[1] & 0x7f, off = 2;
      if (len === 126) { if (h.length < 4) break; len = h.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (h.length < 10) break; len = Number(h.readBigUInt64BE(2)); off = 10; }
      if (this.raw.length < off + len) break;
      const op = h[0] & 0x0f;
      this.raw.skip(off);
      if (op === 8) { this.closed = true; this.raw.skip(len); break; }
      if (op === 0 || op === 2) {
        for (let left = len; left > 0;) { // move the payload over without copying
          const c = this.raw.chunks[0], k = Math.min(left, c.length);
          this.stream.push(c.subarray(0, k));
          this.raw.skip(k);
          left -= k;
        }
      } else this.raw.skip(len);
    }
    this.#wake();
  }

  #wake() { const w = this.waiter; this.waiter = null; w?.(); }

  async #need(n) {
    while (this.stream.length < n) {
      if (this.closed) throw new Error('the connection closed');
      await new Promise((r) => { this.waiter = r; });
    }
  }

  async read(n) { await this.#need(n); return this.stream.take(n); }

  async skip(n) {
    for (let left = n; left > 0;) {
      await this.#need(1);
      const k = Math.min(left, this.stream.length);
      this.stream.skip(k);
      left -= k;
    }
  }

  send(bytes) {
    const payload = Buffer.from(bytes);
    if (!this.ws) { this.socket.write(payload); return; }
    const mask = randomBytes(4), n = payload.length;
    for (let i = 0; i < n; i++) payload[i] ^= mask[i & 3];
    this.socket.write(Buffer.concat([Buffer.from([0x82, 0x80 | n]), mask, payload])); // n < 126 here
  }

  close() { this.socket.destroy(); }
}

function openWs(url) {
  const u = new URL(url.replace(/^ws/, 'http'));
  const key = randomBytes(16).toString('base64');
  return new Promise((resolve, reject) => {
    const req = request({
      host: u.hostname, port: u.port, path: u.pathname + u.search,
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': key, 'Sec-WebSocket-Protocol': 'binary' },
    });
    req.on('upgrade', (res, socket, head) => {
      const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      if (res.headers['sec-websocket-accept'] !== accept) reject(new Error('bad Sec-WebSocket-Accept'));
      else resolve(new Conn(socket, true, head));
    });
    req.on('response', (res) => reject(new Error(`${url}: HTTP ${res.statusCode}`)));
    req.on('error', reject);
    req.end();
  });
}

// QEMU accepts on its main loop with a short backlog: EAGAIN means again.
async function openUnix(path) {
  for (let tries = 0; ; tries++) {
    try {
      return await new Promise((resolve, reject) => {
        const s = net.connect(path, () => resolve(new Conn(s, false)));
        s.on('error', reject);
      });
    } catch (e) {
      if (e.code !== 'EAGAIN' || tries > 100) throw e;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

// ---- RFB ------------------------------------------------------------------
async function handshake(c) {
  await c.read(12);
  c.send(Buffer.from('RFB 003.008\n'));
  const n = (await c.read(1))[0];
  if (!(await c.read(n)).includes(1)) throw new Error('no None security');
  c.send([1]);
  if ((await c.read(4)).readUInt32BE(0) !== 0) throw new Error('security failed');
  c.send([1]); // shared
  const init = await c.read(24);
  await c.skip(init.readUInt32BE(20));
  c.send([2, 0, 0, 1, 0, 0, 0, 0]); // SetEncodings: raw only
  return { width: init.readUInt16BE(0), height: init.readUInt16BE(2), bytes: init[4] / 8 };
}

// Asks for a w x h region (not incremental) and reads the update: its bytes.
async function update(c, info, w, h) {
  const req = Buffer.alloc(10);
  req[0] = 3;
  req.writeUInt16BE(w, 6);
  req.writeUInt16BE(h, 8);
  c.send(req);
  for (;;) {
    const type = (await c.read(1))[0];
    if (type === 0) break;
    if (type === 2) continue; // Bell
    if (type === 3) { await c.skip(3); await c.skip((await c.read(4)).readUInt32BE(0)); continue; }
    throw new Error(`unexpected RFB message ${type}`);
  }
  const rects = (await c.read(3)).readUInt16BE(1);
  let bytes = 4;
  for (let i = 0; i < rects; i++) {
    const r = await c.read(12);
    const n = r.readUInt16BE(4) * r.readUInt16BE(6) * info.bytes;
    await c.skip(n);
    bytes += 12 + n;
  }
  return bytes;
}

// ---- measuring ------------------------------------------------------------
function pssKiB(pid) {
  const pids = [pid];
  const children = new Map();
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(p));
    } catch { /* gone */ }
  }
  for (let i = 0; i < pids.length; i++) pids.push(...(children.get(pids[i]) ?? []));
  let kib = 0;
  for (const p of pids) {
    try { kib += Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${p}/smaps_rollup`, 'utf8'))[1]); } catch { /* gone */ }
  }
  return kib;
}

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(s.length * p))]; };

async function forEachFor(conns, fn) {
  const end = performance.now() + SECONDS * 1000;
  await Promise.all(conns.map(async (c) => { while (performance.now() < end) await fn(c); }));
}

async function measure(peer, n) {
  const before = peer.pid ? pssKiB(peer.pid) : 0;
  const conns = [];
  for (let i = 0; i < n; i++) conns.push(await peer.open());
  const infos = await Promise.all(conns.map(handshake));
  const info = infos[0];
  let bytes = 0, frames = 0, during = 0;
  const sample = setTimeout(() => { during = peer.pid ? pssKiB(peer.pid) : 0; }, SECONDS * 500);
  const t0 = performance.now();
  await forEachFor(conns, async (c) => { bytes += await update(c, info, info.width, info.height); frames++; });
  clearTimeout(sample);
  const perViewerKiB = peer.pid ? (during - before) / n : null;
  const mbps = bytes / 1e6 / ((performance.now() - t0) / 1000);
  const rtts = [];
  await forEachFor(conns, async (c) => { const t = performance.now(); await update(c, info, 1, 1); rtts.push(performance.now() - t); });
  conns.forEach((c) => c.close());
  await new Promise((r) => setTimeout(r, 500));
  return { peer: peer.name, n, mbps, fps: frames / SECONDS, p50: pct(rtts, 0.5), p99: pct(rtts, 0.99), perViewerKiB, screen: `${info.width}x${info.height}` };
}

// ---- the run ----------------------------------------------------------------
async function listening(check, what, log) {
  await until(what, () => new Promise((r) => {
    const s = check();
    s.on('connect', () => { s.destroy(); r(true); });
    s.on('error', () => r(false));
  }), 15000, 200).catch((e) => { throw new Error(`${e.message}\n${log()}`); });
}

function startWebsockify(sock) {
  const port = 20000 + Math.floor(Math.random() * 10000);
  const proc = spawn('websockify', ['--unix-target', sock, `127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d) => { log += d; });
  children.push(proc);
  return { proc, port, ready: listening(() => net.connect(port, '127.0.0.1'), 'websockify to listen', () => log) };
}

const children = [];
const cp = await startControlPlane();
const agent = await new Agent(cp).start();
try {
  await until('the host to join', async () => (await cp.get('/v1/hosts')).body.hosts.find((h) => h.state === 'up'));
  await cp.post('/v1/images/import', { manifest: join(tinyImage('amd64').dir, 'manifest.json') });
  await cp.post('/v1/sizes', { name: 'bench-128m', vcpus: 1, memory_mib: 128, disk_gib: 1 });
  await cp.post('/v1/ssh-keys', { name: 'k', public_key: makeKey().publicKey });
  const vms = [];
  for (const name of ['bench-screen', 'bench-synthetic']) {
    const c = await cp.post('/v1/vms', { name, size: 'bench-128m', image: 'tiny-amd64', ssh_keys: ['k'] });
    const done = await cp.finished(c.body.operation, 600);
    if (done.status !== 'succeeded') throw new Error(JSON.stringify(done));
    vms.push(c.body.vm.id);
  }
  // The second VM's VNC socket path is taken over by the synthetic server
  // (QEMU keeps its listening socket, unreachable by name now): the agent
  // and websockify reach it as they reach any VM's screen.
  const synthetic = join(agent.vmDir(vms[1]), 'vnc.sock');
  const server = spawn('node', [new URL('rfb_server.mjs', import.meta.url).pathname, synthetic], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(server);
  await new Promise((r) => server.stdout.once('data', r));

  const targets = [['QEMU VNC (the VM)', vms[0], join(agent.vmDir(vms[0]), 'vnc.sock')], ['synthetic 1920x1080', vms[1], synthetic]];
  const rows = [];
  for (const [target, vm, sock] of targets) {
    const ws = startWebsockify(sock);
    await ws.ready;
    const peers = [
      { name: 'socket (no proxy)', open: () => openUnix(sock) },
      { name: 'cumulus agent', pid: agent.proc.pid, open: async () => openWs((await cp.post(`/v1/vms/${vm}/console`, { type: 'vnc' })).body.url) },
      { name: 'websockify', pid: ws.proc.pid, open: () => openWs(`ws://127.0.0.1:${ws.port}/`) },
    ];
    for (const n of VIEWERS) {
      for (const peer of peers) {
        const r = { target, floor: peer === peers[0], ...await measure(peer, n) };
        rows.push(r);
        console.error(`# ${target}, ${r.peer}, ${n} viewer(s): ${r.mbps.toFixed(1)} MB/s, p50 ${r.p50.toFixed(2)} ms`);
      }
    }
    ws.proc.kill('SIGTERM');
  }
  console.log(`\nconsole proxy bench: ${SECONDS} s a phase, raw encoding, ${new Date().toISOString()}\n`);
  console.log('| target | viewers | peer | MB/s (all viewers) | frames/s | RTT p50 | RTT p99 | added p50 | PSS per viewer |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const base = rows.find((b) => b.floor && b.target === r.target && b.n === r.n);
    const added = r.floor ? '' : `${(r.p50 - base.p50).toFixed(2)} ms`;
    const mem = r.perViewerKiB === null ? '' : `${r.perViewerKiB.toFixed(0)} KiB`;
    console.log(`| ${r.target} (${r.screen}) | ${r.n} | ${r.peer} | ${r.mbps.toFixed(1)} | ${r.fps.toFixed(1)} | ${r.p50.toFixed(2)} ms | ${r.p99.toFixed(2)} ms | ${added} | ${mem} |`);
  }
} finally {
  children.forEach((p) => p.kill('SIGTERM'));
  await agent.cleanup();
  await cp.cleanup();
}
