// The consoles through the dashboard's origin (webui/console_relay.h): a
// console asked for through the webui's /api carries a proxy_path on the
// webui; a websocket there is relayed to the VM's host.  Driven by the
// test's own VNC and websocket client (lib/vnc_ws.mjs), on the tiny guest:
// the RFB handshake and a screen that is not all one colour, a screenshot
// through /api, the serial console both ways, two viewers at once.
// Refused before the upgrade:
// a ticket the webui did not see issued (straight from the control plane),
// one used before, one on another path, a foreign Origin.  A ticket the
// VM's host refuses, and a VM that stops, close the browser's websocket
// with the reason.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startControlPlane } from './lib/controlplane.mjs';
import { Agent, until } from './lib/agent.mjs';
import { Webui } from './lib/webui.mjs';
import { tinyVm } from './lib/tiny_image.mjs';
import { wsConnect, rfbHandshake, rfbFramebuffer, distinctPixels, decodePng } from './lib/vnc_ws.mjs';

let cp, agent, ui, vm;
before(async () => {
  cp = await startControlPlane();
  // The agent allows no browser Origin at all: the webui sends none.
  agent = await new Agent(cp).start();
  ui = await new Webui(cp.base).start();
  await until('the host to join', async () => (await cp.get('/v1/hosts')).body.hosts.find((h) => h.state === 'up'));
  vm = await tinyVm(cp, 'screen');
});
after(async () => {
  await ui?.cleanup();
  await agent?.cleanup();
  await cp?.cleanup();
});

// POST /api/v1/vms/screen/console through the webui.
async function viaUi(type = 'vnc') {
  const res = await fetch(`${ui.base}/api/v1/vms/${vm.name}/console`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${cp.token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ type }),
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return body;
}

const wsUrl = (path) => `ws://127.0.0.1:${ui.port}${path}`;
const open = (path, opts = {}) => wsConnect(wsUrl(path), { origin: ui.base, ...opts });

async function assertRefused(path, why, opts) {
  const r = await open(path, opts);
  if (r.ok) r.ws.close();
  assert.equal(r.ok, false, `${why}: the upgrade went through`);
}

test('a console asked for through the webui has a proxy_path on it; the screen comes through, two viewers at once', async () => {
  const c = await viaUi();
  assert.match(c.url, new RegExp(`^ws://127\\.0\\.0\\.1:\\d+/v1/vms/${vm.id}/vnc\\?ticket=`), 'the agent\'s URL is kept');
  assert.equal(c.proxy_path, `/console/v1/vms/${vm.id}/vnc?ticket=${c.ticket}`);
  const a = await open(c.proxy_path);
  assert.ok(a.ok, JSON.stringify(a));
  assert.equal(a.protocol, 'binary');
  const init = await rfbHandshake(a.ws);
  const b = await open((await viaUi()).proxy_path);
  assert.ok(b.ok, JSON.stringify(b));
  await rfbHandshake(b.ws);
  const pixels = await rfbFramebuffer(a.ws, init);
  assert.ok(distinctPixels(pixels, init.bpp) > 1, 'the guest\'s console shows: not all one colour');
  assert.ok(distinctPixels(await rfbFramebuffer(b.ws, init), init.bpp) > 1, 'the second viewer sees it too');
  a.ws.close();
  b.ws.close();
  await until('the webui to log both viewers leaving', () => ui.log.split('left /v1/vms/').length - 1 >= 2, 5000);
});

test('a screenshot through /api is the PNG the control plane gives', async () => {
  const res = await fetch(`${ui.base}/api/v1/vms/${vm.name}/screenshot?size=160`, { headers: { Authorization: `Bearer ${cp.token}` } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'image/png');
  const png = decodePng(Buffer.from(await res.arrayBuffer()));
  assert.equal(png.width, 160);
});

test('the serial console through the webui: what is typed reaches the guest and its answer comes back', async () => {
  const c = await viaUi('serial');
  assert.equal(c.proxy_path, `/console/v1/vms/${vm.id}/serial?ticket=${c.ticket}`);
  const s = await open(c.proxy_path);
  assert.ok(s.ok, JSON.stringify(s));
  await s.ws.readUntil(/tiny test guest/); // the log so far
  s.ws.send(Buffer.from('through the dashboard\r'));
  await s.ws.readUntil(/you typed: through the dashboard\r?\n/);
  s.ws.close();
});

test('tickets the webui did not see issued, used ones, other paths and foreign Origins are refused before the upgrade', async () => {
  const direct = await cp.post(`/v1/vms/${vm.id}/console`, { type: 'vnc' });
  assert.equal(direct.status, 200);
  assert.equal(direct.body.proxy_path, undefined, 'the control plane itself knows nothing of the webui');
  await assertRefused(`/console/v1/vms/${vm.id}/vnc?ticket=${direct.body.ticket}`, 'a ticket straight from the control plane');
  await assertRefused(`/console/v1/vms/${vm.id}/vnc`, 'no ticket');

  const foreign = await viaUi();
  await assertRefused(foreign.proxy_path, 'a foreign Origin', { origin: 'http://evil.example' });
  const other = await viaUi();
  await assertRefused(other.proxy_path.replace('/vnc?', '/serial?'), 'a VNC ticket on the serial path');
  await assertRefused(other.proxy_path, 'a ticket tried once already (on another path)');
  await assertRefused((await viaUi()).proxy_path, 'no "binary" subprotocol', { protocol: null });

  const once = await viaUi();
  const first = await open(once.proxy_path, { origin: undefined }); // no Origin: not a browser
  assert.ok(first.ok, JSON.stringify(first));
  await rfbHandshake(first.ws);
  first.ws.close();
  await assertRefused(once.proxy_path, 'a ticket used before');
  await until('the webui to say why', () => ui.log.includes('no console was asked for through this dashboard'), 5000);
  assert.match(ui.log, /its Origin is not this dashboard's/);
});

test('a ticket the VM\'s host refuses closes the browser\'s websocket with the reason', async () => {
  const c = await viaUi();
  const spent = await wsConnect(c.url); // used at the agent directly first
  assert.ok(spent.ok);
  spent.ws.close();
  const r = await open(c.proxy_path);
  assert.ok(r.ok, 'the webui upgrades, then asks the host');
  const closed = await r.ws.waitClosed(10000);
  assert.ok(closed, 'the websocket closed');
  assert.match(closed.reason, /the VM's host refused the console/);
});

test('stopping the VM closes the websocket through the webui', async () => {
  const r = await open((await viaUi()).proxy_path);
  assert.ok(r.ok);
  await rfbHandshake(r.ws);
  const stop = await cp.post(`/v1/vms/${vm.id}/actions`, { type: 'stop' });
  assert.equal(stop.status, 202);
  const closed = await r.ws.waitClosed(60000);
  assert.ok(closed, 'the websocket closed when QEMU went');
  assert.match(closed.reason, /console closed/);
  assert.equal((await cp.finished(stop.body.operation, 120)).status, 'succeeded');
});
