// Serves a directory over HTTP on a free loopback port, so agents fetch
// images through the real download path.
import { createServer } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { join, normalize } from 'node:path';

export async function serveDirectory(dir) {
  let requests = 0;
  const server = createServer((req, res) => {
    requests++;
    const path = normalize(join(dir, decodeURIComponent(new URL(req.url, 'http://x').pathname)));
    if (!path.startsWith(dir)) { res.writeHead(403).end(); return; }
    let st;
    try { st = statSync(path); } catch { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'Content-Length': st.size, 'Content-Type': 'application/octet-stream' });
    createReadStream(path).pipe(res);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return {
    url: (file) => `http://127.0.0.1:${port}/${file}`,
    get requests() { return requests; },
    close: () => new Promise((r) => server.close(r)),
  };
}
