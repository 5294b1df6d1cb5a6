// A websocket client (RFC 6455, client side: masked frames) and a VNC
// (RFB 3.8) client on top of it, written for the tests: they drive the
// agent's console proxy the way noVNC does, with nothing between.
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { randomBytes, createHash } from 'node:crypto';
import { inflateSync } from 'node:zlib';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

// Opens `url` (ws://..., or wss://... trusting `ca`, a CA's PEM).
// Resolves { ok: true, ws } on a 101 with the subprotocol, or { ok: false,
// status, error } when refused (a status, or the connection closed before
// the upgrade, a certificate refused included).
export function wsConnect(url, { protocol = 'binary', origin, timeoutMs = 10000, ca } = {}) {
  const u = new URL(url.replace(/^ws/, 'http'));
  const key = randomBytes(16).toString('base64');
  const headers = {
    Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': key,
  };
  if (protocol) headers['Sec-WebSocket-Protocol'] = protocol;
  if (origin) headers.Origin = origin;
  return new Promise((resolve) => {
    const send = url.startsWith('wss:') ? httpsRequest : request;
    const req = send({ host: u.hostname, port: u.port, path: u.pathname + u.search, headers, ...(ca ? { ca } : {}) });
    const timer = setTimeout(() => { req.destroy(); resolve({ ok: false, status: 0, error: 'timeout' }); }, timeoutMs);
    req.on('upgrade', (res, socket, head) => {
      clearTimeout(timer);
      const accept = createHash('sha1').update(key + GUID).digest('base64');
      if (res.headers['sec-websocket-accept'] !== accept) {
        socket.destroy();
        resolve({ ok: false, status: res.statusCode, error: 'bad Sec-WebSocket-Accept' });
        return;
      }
      resolve({ ok: true, ws: new WsConn(socket, head), protocol: res.headers['sec-websocket-protocol'] });
    });
    req.on('response', (res) => { clearTimeout(timer); res.resume(); resolve({ ok: false, status: res.statusCode }); });
    req.on('error', (e) => { clearTimeout(timer); resolve({ ok: false, status: 0, error: e.message }); });
    req.end();
  });
}

// The data frames' payloads as one byte stream, as RFB needs.
export class WsConn {
  constructor(socket, head) {
    this.socket = socket;
    this.raw = Buffer.alloc(0);
    this.stream = Buffer.alloc(0);
    this.waiters = [];
    this.closed = null; // { code, reason } once the peer closed
    this.received = 0;
    socket.on('data', (d) => this.#onData(d));
    socket.on('close', () => { this.closed ??= { code: 1006, reason: 'connection lost' }; this.#wake(); });
    socket.on('error', () => {});
    if (head?.length) this.#onData(head);
  }

  #onData(d) {
    this.raw = Buffer.concat([this.raw, d]);
    for (;;) {
      if (this.raw.length < 2) break;
      const op = this.raw[0] & 0x0f;
      let len = this.raw[1] & 0x7f, off = 2;
      if (this.raw[1] & 0x80) throw new Error('a server must not mask its frames');
      if (len === 126) { if (this.raw.length < 4) break; len = this.raw.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (this.raw.length < 10) break; len = Number(this.raw.readBigUInt64BE(2)); off = 10; }
      if (this.raw.length < off + len) break;
      const payload = this.raw.subarray(off, off + len);
      this.raw = this.raw.subarray(off + len);
      if (op === 0 || op === 1 || op === 2) {
        this.stream = Buffer.concat([this.stream, payload]);
        this.received += payload.length;
      } else if (op === 8) {
        this.closed = { code: payload.length >= 2 ? payload.readUInt16BE(0) : 1005, reason: payload.subarray(2).toString() };
        this.socket.end();
      } else if (op === 9) {
        this.#frame(10, payload);
      }
    }
    this.#wake();
  }

  #wake() {
    const w = this.waiters;
    this.waiters = [];
    w.forEach((f) => f());
  }

  #frame(op, payload) {
    const mask = randomBytes(4);
    const n = payload.length;
    const head = n < 126 ? Buffer.from([0x80 | op, 0x80 | n])
      : n < 65536 ? Buffer.from([0x80 | op, 0x80 | 126, n >> 8, n & 255])
        : Buffer.concat([Buffer.from([0x80 | op, 0x80 | 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; })()]);
    const body = Buffer.from(payload);
    for (let i = 0; i < n; i++) body[i] ^= mask[i & 3];
    this.socket.write(Buffer.concat([head, mask, body]));
  }

  send(bytes) { this.#frame(2, Buffer.from(bytes)); }

  // Exactly n bytes of the stream, or an error when it closes or times out.
  async read(n, timeoutMs = 20000) {
    const deadline = Date.now() + timeoutMs;
    while (this.stream.length < n) {
      if (this.closed) throw new Error(`websocket closed (${this.closed.code} ${this.closed.reason}) after ${this.stream.length} of ${n} bytes`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${n} bytes (have ${this.stream.length})`);
      await new Promise((r) => { const t = setTimeout(r, left); this.waiters.push(() => { clearTimeout(t); r(); }); });
    }
    const out = this.stream.subarray(0, n);
    this.stream = this.stream.subarray(n);
    return out;
  }

  // The stream as text once it matches `pattern` (consumed), or an error
  // when it closes or times out first: for the serial console.
  async readUntil(pattern, timeoutMs = 20000) {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.stream.toString())) {
      if (this.closed) throw new Error(`websocket closed (${this.closed.code} ${this.closed.reason}) before ${pattern}: ${JSON.stringify(this.stream.toString().slice(-500))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${pattern}: ${JSON.stringify(this.stream.toString().slice(-500))}`);
      await new Promise((r) => { const t = setTimeout(r, left); this.waiters.push(() => { clearTimeout(t); r(); }); });
    }
    const text = this.stream.toString();
    this.stream = Buffer.alloc(0);
    return text;
  }

  // Drops what has arrived so far.
  discard() { this.stream = Buffer.alloc(0); }

  // Resolves once the peer has closed (or after timeoutMs).
  async waitClosed(timeoutMs = 10000) {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) {
      await new Promise((r) => { const t = setTimeout(r, 100); this.waiters.push(() => { clearTimeout(t); r(); }); });
    }
    return this.closed;
  }

  close() { try { this.#frame(8, Buffer.from([0x03, 0xe8])); } catch { /* gone */ } this.socket.end(); }
}

// RFB 3.8 through `ws`, security None, shared: { width, height, name, bpp }.
export async function rfbHandshake(ws) {
  const version = (await ws.read(12)).toString();
  if (!/^RFB 003\.00[38]\n$/.test(version)) throw new Error(`not an RFB server: ${JSON.stringify(version)}`);
  ws.send(Buffer.from('RFB 003.008\n'));
  const n = (await ws.read(1))[0];
  if (n === 0) throw new Error(`refused: ${(await ws.read((await ws.read(4)).readUInt32BE(0))).toString()}`);
  const types = [...await ws.read(n)];
  if (!types.includes(1)) throw new Error(`no "None" security type: ${types}`);
  ws.send([1]);
  const result = (await ws.read(4)).readUInt32BE(0);
  if (result !== 0) throw new Error(`security result ${result}`);
  ws.send([1]); // ClientInit: shared, so other viewers stay connected
  const init = await ws.read(24);
  const name = (await ws.read(init.readUInt32BE(20))).toString();
  return { width: init.readUInt16BE(0), height: init.readUInt16BE(2), bpp: init[4], name };
}

// Asks for the whole screen in raw encoding and returns its pixels.
export async function rfbFramebuffer(ws, { width, height, bpp }, timeoutMs = 30000) {
  ws.send([2, 0, 0, 1, 0, 0, 0, 0]); // SetEncodings: raw only
  const bytes = bpp / 8;
  const pixels = Buffer.alloc(width * height * bytes);
  await rfbUpdate(ws, { width, height, bpp }, (x, y, w, hh, data) => {
    for (let row = 0; row < hh; row++) {
      data.copy(pixels, ((y + row) * width + x) * bytes, row * w * bytes, (row + 1) * w * bytes);
    }
  }, timeoutMs);
  return pixels;
}

// Asks for a region (not incremental; raw encoding asked for already) and
// reads the update, calling onRect(x, y, w, h, data) for each rectangle.
// Resolves the pixel bytes received.
export async function rfbUpdate(ws, { x = 0, y = 0, width, height, bpp }, onRect, timeoutMs = 30000) {
  const req = Buffer.alloc(10);
  req.writeUInt8(3, 0); req.writeUInt8(0, 1);
  req.writeUInt16BE(x, 2); req.writeUInt16BE(y, 4);
  req.writeUInt16BE(width, 6); req.writeUInt16BE(height, 8);
  ws.send(req);
  for (;;) {
    const type = (await ws.read(1, timeoutMs))[0];
    if (type === 0) break; // FramebufferUpdate
    if (type === 2) continue; // Bell
    if (type === 3) { await ws.read(3); await ws.read((await ws.read(4)).readUInt32BE(0)); continue; } // ServerCutText
    throw new Error(`unexpected RFB message ${type}`);
  }
  await ws.read(1);
  const rects = (await ws.read(2)).readUInt16BE(0);
  let received = 0;
  for (let i = 0; i < rects; i++) {
    const h = await ws.read(12);
    const [rx, ry, w, hh, enc] = [h.readUInt16BE(0), h.readUInt16BE(2), h.readUInt16BE(4), h.readUInt16BE(6), h.readInt32BE(8)];
    if (enc !== 0) throw new Error(`encoding ${enc}, asked for raw`);
    const data = await ws.read(w * hh * (bpp / 8), timeoutMs);
    received += data.length;
    onRect?.(rx, ry, w, hh, data);
  }
  return received;
}

// How many different pixel values a framebuffer holds.
export function distinctPixels(pixels, bpp) {
  const seen = new Set();
  for (let i = 0; i < pixels.length && seen.size < 1000; i += bpp / 8) seen.add(pixels.readUIntLE(i, bpp / 8));
  return seen.size;
}

// A PNG's size and RGB pixels (8-bit RGB, not interlaced: what the agent
// writes), decoded with zlib alone.
export function decodePng(buf) {
  if (buf.subarray(0, 8).toString('hex') !== '89504e470d0a1a0a') throw new Error('not a PNG');
  let off = 8, width = 0, height = 0;
  const idat = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off), type = buf.subarray(off + 4, off + 8).toString();
    const data = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0); height = data.readUInt32BE(4);
      if (data[8] !== 8 || data[9] !== 2 || data[12] !== 0) throw new Error('not 8-bit RGB, non-interlaced');
    } else if (type === 'IDAT') idat.push(data);
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * 3, out = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)], line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= 3 ? out[y * stride + x - 3] : 0, b = y > 0 ? out[(y - 1) * stride + x] : 0;
      const c = x >= 3 && y > 0 ? out[(y - 1) * stride + x - 3] : 0;
      const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
      const pred = [0, a, b, (a + b) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? b : c][f];
      out[y * stride + x] = (line[x] + pred) & 255;
    }
  }
  return { width, height, rgb: out };
}
