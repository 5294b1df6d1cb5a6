// Every path and method in /v1/openapi.json answers on the real daemon
// (no "route_not_found", no 405, no 5xx), and the document is served.
// (That every route of the server is documented is tests/unit/test_openapi.c.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startControlPlane } from './lib/controlplane.mjs';
import { makeKey } from './lib/keys.mjs';

let cp;
before(async () => {
  cp = await startControlPlane({ extraArgs: ['--host-timeout', '3600'] });
  await cp.joinHost();
});
after(async () => { await cp.cleanup(); });

test('every documented operation answers', async () => {
  const doc = (await cp.get('/v1/openapi.json')).body;
  assert.equal(doc.openapi, '3.0.3');
  await cp.post('/v1/ssh-keys', { name: 'k', public_key: makeKey().publicKey });
  const created = await cp.post('/v1/vms', { name: 'doc-vm', size: 's-1vcpu-1gb', image: 'debian-12-amd64', ssh_keys: ['k'] });
  // One existing resource per collection, so {id} resolves; DELETEs get throwaway ones.
  const ids = {
    sizes: 's-1vcpu-1gb', images: 'debian-12-arm64', 'ssh-keys': 'k', vms: 'doc-vm',
    operations: created.body.operation.id, hosts: 'no-such-host',
  };
  let checked = 0;
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of ['get', 'post', 'put', 'delete', 'patch']) {
      if (!item[method]) continue;
      const collection = path.split('/')[2];
      let url = path.replace('{id}', ids[collection]);
      if (url.endsWith('/wait')) url += '?timeout=0';
      const body = method === 'post' ? {} : undefined;
      const r = await cp.request(method.toUpperCase(), url, body);
      assert.ok(r.status < 500, `${method} ${url}: ${r.status}`);
      assert.notEqual(r.status, 405, `${method} ${url}`);
      if (r.status === 404) assert.equal(r.body.error.code, 'not_found', `${method} ${url}: ${JSON.stringify(r.body)}`);
      const documented = Object.keys(item[method].responses);
      assert.ok(documented.includes(String(r.status)), `${method} ${path} answered ${r.status}, documented ${documented}`);
      checked++;
    }
  }
  assert.ok(checked >= 25, `checked ${checked} operations`);
});
