// bench/rfb_server.mjs SOCKET [WIDTH HEIGHT]: a minimal RFB 3.8 server on
// a unix socket that answers every FramebufferUpdateRequest at once with a
// raw rectangle of the size asked, from one buffer made at start.  QEMU's
// VNC server sends updates on its display refresh timer (tens of ms and
// more), which hides what a proxy costs; this one is as fast as the
// socket, so the proxy in front of it is what is measured.  For
// bench/console.mjs only.
import net from 'node:net';
import { unlinkSync } from 'node:fs';

const [path, w = '1920', h = '1080'] = process.argv.slice(2);
const width = Number(w), height = Number(h);
const pixels = Buffer.alloc(width * height * 4);
for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7) & 255; // not one colour

function serverInit() {
  const name = Buffer.from('cumulus bench');
  const b = Buffer.alloc(24);
  b.writeUInt16BE(width, 0);
  b.writeUInt16BE(height, 2);
  Buffer.from([32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0]).copy(b, 4); // RGBX little-endian
  b.writeUInt32BE(name.length, 20);
  return Buffer.concat([b, name]);
}

function serve(socket) {
  let buf = Buffer.alloc(0);
  let stage = 'version';
  socket.setNoDelay(true);
  socket.on('error', () => {});
  socket.write('RFB 003.008\n');
  socket.on('data', (d) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    for (;;) {
      let used = 0;
      if (stage === 'version' && buf.length >= 12) { used = 12; socket.write(Buffer.from([1, 1])); stage = 'security'; }
      else if (stage === 'security' && buf.length >= 1) { used = 1; socket.write(Buffer.alloc(4)); stage = 'init'; }
      else if (stage === 'init' && buf.length >= 1) { used = 1; socket.write(serverInit()); stage = 'normal'; }
      else if (stage === 'normal' && buf.length >= 1) used = message(socket, buf);
      if (!used) break;
      buf = buf.subarray(used);
    }
  });
}

// One client message: the bytes it took, or 0 if it is not all here yet.
function message(socket, b) {
  switch (b[0]) {
    case 0: return b.length >= 20 ? 20 : 0; // SetPixelFormat (ignored: RGBX it is)
    case 2: return b.length >= 4 && b.length >= 4 + 4 * b.readUInt16BE(2) ? 4 + 4 * b.readUInt16BE(2) : 0;
    case 3: {
      if (b.length < 10) return 0;
      const [x, y, rw, rh] = [b.readUInt16BE(2), b.readUInt16BE(4), b.readUInt16BE(6), b.readUInt16BE(8)];
      const head = Buffer.alloc(16);
      head.writeUInt16BE(1, 2);
      head.writeUInt16BE(x, 4); head.writeUInt16BE(y, 6); head.writeUInt16BE(rw, 8); head.writeUInt16BE(rh, 10);
      socket.write(head);
      socket.write(pixels.subarray(0, rw * rh * 4));
      return 10;
    }
    case 4: return b.length >= 8 ? 8 : 0;
    case 5: return b.length >= 6 ? 6 : 0;
    case 6: return b.length >= 8 && b.length >= 8 + b.readUInt32BE(4) ? 8 + b.readUInt32BE(4) : 0;
    default: socket.destroy(); return 0;
  }
}

try { unlinkSync(path); } catch { /* none */ }
net.createServer(serve).listen({ path, backlog: 128 }, () => console.log('listening'));
