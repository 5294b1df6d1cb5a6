// A VM's screen through the agent's console proxy (agent/console_proxy.h),
// driven by a VNC client written for the test (lib/vnc_ws.mjs) over a
// websocket, on the tiny guest: POST /v1/vms/{id}/console gives a URL with
// a ticket; the RFB handshake, a framebuffer update and pixels that are
// not all one colour come through it; two viewers at once both work.
// Refused before the upgrade, each with its reason in the agent's log:
// no ticket, a forged one, one used before, one for another VM, an expired
// one, an Origin that is not configured, a websocket without the
// "binary" subprotocol.  The serial console: the log so far, then live,
// and what is typed reaches the guest (the tiny guest answers each line),
// for two viewers at once, with tickets of its own.  GET
// /v1/vms/{id}/screenshot gives a PNG of the screen (libvncclient on the
// host), scaled to the size asked.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { startControlPlane } from './lib/controlplane.mjs';
import { Agent, until } from './lib/agent.mjs';
import { tinyVm } from './lib/tiny_image.mjs';
import { wsConnect, rfbHandshake, rfbFramebuffer, distinctPixels, decodePng } from './lib/vnc_ws.mjs';

const UI = 'http://ui.example:8443';
let cp, agent, vm;
before(async () => {
  cp = await startControlPlane();
  agent = await new Agent(cp, { args: ['--console-origins', `${UI},http://other.example`] }).start();
  await until('the host to join', async () => (await cp.get('/v1/hosts')).body.hosts.find((h) => h.state === 'up'));
  vm = await tinyVm(cp, 'screen');
});
after(async () => {
  await agent?.cleanup();
  await cp?.cleanup();
});

async function console_(type = 'vnc') {
  const r = await cp.post(`/v1/vms/${vm.name}/console`, { type });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

async function assertRefused(url, why, opts) {
  const r = await wsConnect(url, opts);
  if (r.ok) r.ws.close();
  assert.equal(r.ok, false, `${why}: the upgrade went through`);
  return r;
}

test('POST /v1/vms/{id}/console answers a websocket URL with a ticket; bad requests are refused', async () => {
  const c = await console_();
  assert.equal(c.vm_id, vm.id);
  assert.equal(c.protocol, 'binary');
  assert.match(c.url, new RegExp(`^ws://127\\.0\\.0\\.1:\\d+/v1/vms/${vm.id}/vnc\\?ticket=v1\\.${vm.id}\\.vnc\\.\\d+\\.[0-9a-f]{32}\\.[0-9a-f]{64}$`));
  const left = Date.parse(c.expires_at) - Date.now();
  assert.ok(left > 20000 && left <= 31000, `expires in ${left} ms`);
  assert.equal((await cp.post('/v1/vms/no-such-vm/console', {})).status, 404);
  const bad = await cp.post(`/v1/vms/${vm.id}/console`, { type: 'ssh' });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.field, 'type');
  assert.equal((await cp.post(`/v1/vms/${vm.id}/console`, { type: 'vnc', extra: 1 })).status, 400);
});

test('a VNC session through the websocket shows the guest\'s screen; two viewers at once', async () => {
  const [a, b] = await Promise.all([console_(), console_()]);
  const ra = await wsConnect(a.url);
  assert.ok(ra.ok, JSON.stringify(ra));
  assert.equal(ra.protocol, 'binary');
  const info = await rfbHandshake(ra.ws);
  assert.ok(info.width >= 320 && info.height >= 200, JSON.stringify(info));
  assert.equal(info.bpp, 32);
  const rb = await wsConnect(b.url, { origin: UI });
  assert.ok(rb.ok, `a configured origin is let in: ${JSON.stringify(rb)}`);
  const infoB = await rfbHandshake(rb.ws);
  assert.deepEqual([infoB.width, infoB.height], [info.width, info.height]);

  // The guest has printed to its screen: not all one colour.
  const pixels = await until('a screen that is not blank', async () => {
    const px = await rfbFramebuffer(ra.ws, info);
    return distinctPixels(px, info.bpp) > 1 ? px : null;
  }, 60000, 1000);
  assert.ok(distinctPixels(pixels, info.bpp) > 1);
  const pixelsB = await rfbFramebuffer(rb.ws, infoB);
  assert.equal(pixelsB.length, pixels.length, 'the second viewer sees the same screen, meanwhile');
  ra.ws.close();
  rb.ws.close();
  assert.ok(await ra.ws.waitClosed(), 'the proxy closes its side');
});

test('the serial console: the log so far, then live; typed lines reach the guest; two viewers; its own tickets', async () => {
  const c = await console_('serial');
  assert.equal(c.type, 'serial');
  assert.match(c.url, new RegExp(`/v1/vms/${vm.id}/serial\\?ticket=v1\\.${vm.id}\\.serial\\.`));
  const a = await wsConnect(c.url, { origin: UI });
  assert.ok(a.ok, JSON.stringify(a));
  await a.ws.readUntil(/tiny test guest: ready after [\d.]+ s\r?\n/); // from before it was opened
  a.ws.send(Buffer.from('hello serial\r'));
  await a.ws.readUntil(/you typed: hello serial\r?\n/);

  const b = await wsConnect((await console_('serial')).url);
  assert.ok(b.ok, JSON.stringify(b));
  await b.ws.readUntil(/you typed: hello serial\r?\n/); // its scrollback
  b.ws.send(Buffer.from('from b\r'));
  a.ws.send(Buffer.from('from a\r'));
  for (const ws of [a.ws, b.ws]) await ws.readUntil(/you typed: from b[^]*you typed: from a|you typed: from a[^]*you typed: from b/);
  a.ws.close();
  assert.ok(await a.ws.waitClosed());
  b.ws.send(Buffer.from('after a left\r')); // the line stays for the viewer left
  await b.ws.readUntil(/you typed: after a left/);
  b.ws.close();
  assert.ok(await b.ws.waitClosed());
  const open = () => readdirSync(`/proc/${agent.proc.pid}/fd`).map((fd) => {
    try { return readlinkSync(`/proc/${agent.proc.pid}/fd/${fd}`); } catch { return ''; }
  }).filter((t) => t.endsWith('/serial.log'));
  await until('the agent to close serial.log once the viewers left', () => open().length === 0, 5000);

  // A ticket opens the kind it was issued for only.
  const vnc = await console_('vnc');
  await assertRefused(vnc.url.replace('/vnc?', '/serial?'), 'a VNC ticket on the serial console');
  const serial = await console_('serial');
  await assertRefused(serial.url.replace('/serial?', '/vnc?'), 'a serial ticket on the screen');
  // And the log is whole for the host: what went to the viewers is there.
  const log = () => readFileSync(join(agent.vmDir(vm.id), 'serial.log'), 'utf8');
  await until('serial.log to have the typed lines', () => log().includes('you typed: after a left'), 5000);
  assert.match(log(), /tiny test guest: ready after[^]*you typed: hello serial/);
});

test('missing, forged, replayed, other-VM, expired tickets, wrong Origin and no subprotocol are refused', async () => {
  const base = (await console_()).url.replace(/\?.*/, '');
  await assertRefused(base, 'no ticket');
  await assertRefused(`${base}?ticket=`, 'an empty ticket');
  const good = await console_();
  const forged = good.url.slice(0, -1) + (good.url.endsWith('0') ? '1' : '0');
  await assertRefused(forged, 'a forged ticket');
  const longer = good.url.replace(/\.vnc\.(\d+)\./, (m, exp) => `.vnc.${Number(exp) + 3600000}.`);
  await assertRefused(longer, 'a ticket whose expiry was changed');
  await assertRefused(good.url, 'the right ticket but a foreign Origin', { origin: 'http://evil.example' });
  await assertRefused(good.url.replace(vm.id, 'vm-0123456789abcdef'), 'a ticket for another VM');
  await assertRefused(good.url, 'no "binary" subprotocol', { protocol: null });
  // None of the refusals used the ticket up.
  const once = await wsConnect(good.url, { origin: 'http://other.example' });
  assert.ok(once.ok, JSON.stringify(once));
  await rfbHandshake(once.ws);
  once.ws.close();
  await assertRefused(good.url, 'a ticket used before');
  const old = await console_();
  await new Promise((r) => setTimeout(r, 31000));
  await assertRefused(old.url, 'an expired ticket');
  for (const why of ['missing or invalid console ticket', 'origin \'http://evil.example\' is not allowed',
    'this console ticket is for another VM', 'already used', 'has expired']) {
    await until(`the agent to say why: ${why}`, () => agent.log.includes(why), 5000);
  }
});

async function screenshot(query = '') {
  const res = await fetch(`${cp.base}/v1/vms/${vm.name}/screenshot${query}`, { headers: { Authorization: `Bearer ${cp.token}` } });
  return { status: res.status, type: res.headers.get('content-type'), body: Buffer.from(await res.arrayBuffer()) };
}

test('a screenshot is a PNG of the screen, scaled to the size asked', async () => {
  const full = await screenshot();
  assert.equal(full.status, 200, full.body.toString().slice(0, 300));
  assert.equal(full.type, 'image/png');
  const big = decodePng(full.body);
  assert.ok(big.width >= 320 && big.height >= 200, `${big.width}x${big.height}`);
  const thumb = decodePng((await screenshot('?size=160')).body);
  assert.equal(thumb.width, 160);
  assert.equal(thumb.height, Math.floor(big.height * 160 / big.width));
  const colours = new Set();
  for (let i = 0; i < thumb.rgb.length; i += 3) colours.add(thumb.rgb.readUIntBE(i, 3));
  assert.ok(colours.size > 1, 'the guest\'s console shows in the thumbnail');
  for (const bad of ['?size=0', '?size=15', '?size=5000', '?size=abc', '?size=']) {
    const r = await screenshot(bad);
    assert.equal(r.status, 400, `${bad}: ${r.body}`);
    assert.equal(JSON.parse(r.body).error.field, 'size');
  }
  assert.equal((await fetch(`${cp.base}/v1/vms/${vm.name}/screenshot`)).status, 401);
});

test('stopping the VM closes the viewer\'s websocket', async () => {
  const c = await console_();
  const r = await wsConnect(c.url);
  assert.ok(r.ok);
  await rfbHandshake(r.ws);
  const stop = await cp.post(`/v1/vms/${vm.id}/actions`, { type: 'stop' });
  assert.equal(stop.status, 202);
  const closed = await r.ws.waitClosed(60000);
  assert.ok(closed, 'the websocket closed when QEMU went');
  assert.equal((await cp.finished(stop.body.operation, 120)).status, 'succeeded');
  const refused = await cp.post(`/v1/vms/${vm.id}/console`, {});
  assert.equal(refused.status, 409, JSON.stringify(refused.body));
  assert.equal((await screenshot()).status, 409, 'no screenshot of a stopped VM');
});
