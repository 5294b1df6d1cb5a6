// The dashboard in a real browser: Debian's chromium driven by
// playwright-core (no browser download), against the real three daemons
// (control plane, agent, webui) and the tiny test guest.  Step by step, as
// a person would: sign in with the admin token (a wrong one is refused),
// add an SSH key, a size and an image through their forms (a bad key's
// error shows in its form), see the host's capacity bars, create a VM
// through the form (a bad name's error shows under the name field) and
// watch its state reach running without a reload, its screen thumbnail
// and SSH command; open the console and find noVNC's canvas not blank
// (through the webui's own origin), open the serial console and talk to
// the guest, see its CPU and memory graphs (and the polling stop once the
// page is left), take a snapshot, delete the VM after confirming and see
// it disappear.  A PNG of each page goes to CUMULUS_BROWSER_ARTIFACTS.
import { test as nodeTest, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { startControlPlane } from '../integration/lib/controlplane.mjs';
import { Agent, until } from '../integration/lib/agent.mjs';
import { Webui } from '../integration/lib/webui.mjs';
import { addTinyImage } from '../integration/lib/tiny_image.mjs';
import { makeKey } from '../integration/lib/keys.mjs';

const here = new URL('.', import.meta.url).pathname;
const BUILD_DIR = process.env.CUMULUS_BIN_DIR ? join(process.env.CUMULUS_BIN_DIR, '..') : join(here, '../../build');
// playwright-core is installed in the build tree by the browser.npm-ci
// fixture (tests/browser/npm_ci.cmake), from tests/browser/package-lock.json.
const NODE_MODULES = process.env.CUMULUS_BROWSER_NODE_MODULES ?? join(BUILD_DIR, 'tests/browser-npm/node_modules');
const ARTIFACTS = process.env.CUMULUS_BROWSER_ARTIFACTS ?? join(BUILD_DIR, 'test-artifacts/browser');
const CHROMIUM = process.env.CUMULUS_CHROMIUM ?? '/usr/bin/chromium';
const SLOW = 240000; // a VM's creation or deletion under TCG

let cp, agent, ui, browser, page;
const pageErrors = [];
const sockets = [];

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (scripts/lib/common.sh installs it for the tests)`);
  const { chromium } = createRequire(join(NODE_MODULES, '..', 'package.json'))('playwright-core');
  mkdirSync(ARTIFACTS, { recursive: true });
  console.log(`screenshots: ${ARTIFACTS}`);

  cp = await startControlPlane();
  ui = await new Webui(cp.base).start();
  agent = await new Agent(cp).start(); // no --console-origins: consoles go through the webui
  await until('the host to join', async () => (await cp.get('/v1/hosts')).body.hosts.find((h) => h.state === 'up'));
  await addTinyImage(cp); // tiny-amd64, size t-128mb, key "tester"

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    chromiumSandbox: process.getuid?.() !== 0, // Chromium refuses its sandbox as root
    args: ['--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  page.setDefaultTimeout(30000);
  page.on('pageerror', (err) => pageErrors.push(err.stack ?? err.message));
  page.on('websocket', (ws) => sockets.push(ws.url()));
});

after(async () => {
  await browser?.close();
  await ui?.cleanup();
  await agent?.cleanup();
  await cp?.cleanup();
});

async function shot(name) {
  const file = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

// A step; when it fails, a picture of the page as it was then.
function test(name, fn) {
  nodeTest(name, async (t) => {
    try {
      await fn(t);
    } catch (err) {
      const file = await shot(`FAILED-${name.slice(0, 40).replace(/[^a-z0-9]+/gi, '-')}`).catch(() => null);
      if (file) err.message += `\n(the page then: ${file})`;
      throw err;
    }
  });
}

const go = (hash) => page.evaluate((h) => { location.hash = h; }, hash);
const text = (selector) => page.locator(selector).innerText();

test('sign in: a wrong token is refused in words; the admin token is kept in the session, never in the URL', async () => {
  await page.goto(ui.base);
  await page.locator('#token').waitFor();
  await shot('01-sign-in');
  await page.fill('#token', 'cuadm_not-the-token');
  await page.click('#sign-in button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#sign-in-error').textContent.length > 0);
  assert.match(await text('#sign-in-error'), /not accepted/);

  await page.fill('#token', cp.token);
  await page.click('#sign-in button[type=submit]');
  await page.locator('#vm-rows').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('cumulus.token')), cp.token);
  assert.ok(!page.url().includes(cp.token), page.url());
  await page.locator('#live[data-state="live"]').waitFor();
  await page.locator('#vm-rows tr.empty').waitFor();
  await shot('02-vms-empty');
});

test('SSH keys: a bad key gets the API\'s error in its form; a real one is added', async () => {
  await go('#/keys');
  await page.fill('#key-public', 'ssh-ed25519 AAAAnot-a-key');
  await page.fill('#key-name', 'broken');
  await page.click('#add-key');
  const error = page.locator('#key-form [data-error-for="public_key"], #key-form-error').filter({ hasText: /\S/ });
  await error.first().waitFor();
  assert.match(await error.first().innerText(), /key/i);

  await page.fill('#key-public', makeKey('ed25519', 'browser@test').publicKey);
  await page.fill('#key-name', 'browser-key');
  await page.click('#add-key');
  await page.locator('#key-rows tr[data-key-name="browser-key"]').waitFor();
  assert.equal(await page.locator('#key-form-error').innerText(), '');
  await shot('03-keys');
});

test('sizes and images: one of each added through the forms; the tiny image is listed under its OS', async () => {
  await go('#/sizes');
  await page.fill('#size-name', 'b-128mb');
  await page.fill('#size-vcpus', '1');
  await page.fill('#size-memory', '128');
  await page.fill('#size-disk', '1');
  await page.click('#add-size');
  await page.locator('#size-rows tr[data-size-name="b-128mb"]').waitFor();
  assert.match(await text('#size-rows tr[data-size-name="b-128mb"]'), /128 MiB[^]*1 GiB/);
  await shot('04-sizes');

  await go('#/images');
  const row = page.locator('tr[data-image-name="tiny-amd64"]');
  await row.waitFor();
  assert.match(await row.innerText(), /x86_64[^]*ready/);
  assert.match(await page.locator('section', { has: row }).locator('h3').innerText(), /Tiny/);

  // One added by URL and checksum (a bare SHA-256 gets its prefix), then
  // deleted after confirming.  Nothing is downloaded until a VM needs it.
  await page.fill('#image-url', 'https://images.example/other-os-1-amd64.qcow2');
  await page.fill('#image-checksum', 'ab'.repeat(32));
  await page.fill('#image-name', 'other-os-1');
  await page.fill('#image-os', 'otheros');
  await page.fill('#image-version', '1');
  await page.fill('#image-user', 'admin');
  await page.click('#add-image');
  const added = page.locator('tr[data-image-name="other-os-1"]');
  await added.waitFor();
  assert.equal((await cp.get('/v1/images/other-os-1')).body.checksum, `sha256:${'ab'.repeat(32)}`);
  await shot('05-images');
  await added.locator('button:has-text("Delete")').click();
  await page.locator('dialog[open] button:has-text("Delete image")').click();
  await added.waitFor({ state: 'detached' });
  assert.equal((await cp.get('/v1/images/other-os-1')).status, 404);
});

test('hosts: the agent\'s host is up, with capacity bars for vCPUs, memory and disk', async () => {
  await go('#/hosts');
  const card = page.locator('article.host[data-host-name="host-1"]');
  await card.waitFor();
  assert.equal(await card.getAttribute('data-state'), 'up');
  assert.equal(await card.locator('[role="meter"]').count(), 3);
  assert.match(await card.innerText(), /vCPUs[^]*free[^]*Memory[^]*free[^]*Disk[^]*free/);
  await shot('06-hosts');
});

test('create a VM through the form: a bad name is refused under its field; then it runs, without a reload', async () => {
  await page.click('#nav a[data-nav="vms"]');
  await page.click('#create-vm');
  await page.locator('#create-form').waitFor();
  // Proof that nothing below reloads the page: a reload would lose it.
  await page.evaluate(() => { window.noReloadMark = 'still here'; });

  await page.fill('#vm-name', 'Bad_Name');
  await page.selectOption('#vm-image', 'tiny-amd64');
  await page.check('#vm-size input[value="b-128mb"]');
  await page.check('#vm-keys input[value="browser-key"]');
  await page.click('#create-submit');
  const nameError = page.locator('#create-form [data-error-for="name"]');
  await page.waitForFunction(() => document.querySelector('#create-form [data-error-for="name"]').textContent.length > 0);
  assert.match(await nameError.innerText(), /Bad_Name/);
  assert.equal(await page.getAttribute('#vm-name', 'aria-invalid'), 'true');

  await page.fill('#vm-name', 'web-1');
  await shot('07-create');
  // Watch for the creation's progress bar from the moment it is asked for.
  await page.evaluate(() => {
    window.sawProgress = false;
    new MutationObserver(() => { if (document.querySelector('.op-slot progress')) window.sawProgress = true; })
      .observe(document.body, { subtree: true, childList: true });
  });
  await page.click('#create-submit');
  await page.waitForURL(/#\/vms\/web-1$/);
  await page.waitForFunction(() => window.sawProgress, null, { timeout: 20000 });

  await page.click('#nav a[data-nav="vms"]');
  const row = page.locator('#vm-rows tr[data-vm-name="web-1"]');
  await page.locator('#vm-rows tr[data-vm-name="web-1"][data-state="running"]').waitFor({ timeout: SLOW });
  assert.equal(await page.evaluate(() => window.noReloadMark), 'still here', 'the page was reloaded');
  assert.match(await row.locator('.vm-state').innerText(), /running/);
  assert.equal(await page.locator('#vm-summary').innerText(), '1 VM, 1 running.', 'the count follows the states');
  assert.match(await row.locator('.ssh-command').innerText(), /^ssh -p \d+ root@127\.0\.0\.1$/);
  assert.equal(await row.locator('button.copy').count(), 1);
  // The screen's thumbnail: a picture fetched with the token, shown from a blob.
  await page.waitForFunction(() => {
    const img = document.querySelector('#vm-rows tr[data-vm-name="web-1"] img.thumb');
    return img?.src.startsWith('blob:') && img.complete && img.naturalWidth > 0;
  }, null, { timeout: 60000 });
  await shot('08-vms-running');

  // Readable on a phone: the table becomes cards, nothing sticks out sideways.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(300);
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), 'the page is wider than a phone');
  await shot('09-vms-phone');
  await page.setViewportSize({ width: 1280, height: 860 });
});

// noVNC's canvas shows more than one colour (its pixels read in the page).
function canvasNotBlank() {
  const canvas = document.querySelector('#vnc-screen canvas');
  if (!canvas || canvas.width < 16 || canvas.height < 16) return false;
  const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
  const first = (data[0] << 16) | (data[1] << 8) | data[2];
  for (let i = 4; i < data.length; i += 4) if (((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]) !== first) return true;
  return false;
}

test('the console: noVNC over the webui\'s own origin shows the guest\'s screen, not blank; full window and Ctrl-Alt-Del are there', async () => {
  await page.click('#vm-rows tr[data-vm-name="web-1"] a.button:has-text("Console")');
  await page.waitForURL(/#\/vms\/web-1\/console$/);
  await page.waitForFunction(() => /^Connected/.test(document.querySelector('#console-status')?.textContent ?? ''), null, { timeout: 30000 })
    .catch(async (err) => { throw new Error(`${err.message}; status: ${await text('#console-status').catch(() => '?')}`); });
  const viaWebui = sockets.filter((u) => u.startsWith(`ws://127.0.0.1:${ui.port}/console/`));
  assert.ok(viaWebui.length > 0, `the screen's websocket went elsewhere: ${sockets.join(', ')}`);
  await page.waitForFunction(canvasNotBlank, null, { timeout: 60000, polling: 500 });
  assert.ok(await page.isEnabled('#console-cad'), 'Ctrl-Alt-Del is offered once connected');
  await shot('10-console');

  await page.click('#console-view .full-window-toggle');
  const box = await page.locator('#console-view').boundingBox();
  assert.deepEqual([box.x, box.y, box.width, box.height], [0, 0, 1280, 860], 'full window fills the window');
  await page.click('#console-view .full-window-toggle');
});

test('the serial console: the guest\'s output so far, then what is typed reaches it and its answer comes back', async () => {
  await go('#/vms/web-1/serial');
  await page.waitForFunction(() => /^Connected/.test(document.querySelector('#serial-status')?.textContent ?? ''), null, { timeout: 30000 });
  const rows = page.locator('#serial-screen .xterm-rows');
  await page.waitForFunction(() => /tiny test guest: ready/.test(document.querySelector('#serial-screen .xterm-rows')?.textContent ?? ''), null, { timeout: 30000 });
  await page.click('#serial-screen');
  await page.keyboard.type('hello from the browser');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => /you typed: hello from the browser/.test(document.querySelector('#serial-screen .xterm-rows')?.textContent ?? ''), null, { timeout: 30000 });
  assert.ok(sockets.some((u) => u.startsWith(`ws://127.0.0.1:${ui.port}/console/`) && u.includes('/serial?')), sockets.join(', '));
  assert.match(await rows.innerText(), /you typed: hello from the browser/);
  await shot('11-serial');
});

// Pixels of about this colour on a canvas (the graphs' lines are drawn
// in their own colours, antialiased at the edges).
function linePixels([id, rgb]) {
  const c = document.getElementById(id);
  if (!c || !c.width) return 0;
  const { data } = c.getContext('2d').getImageData(0, 0, c.width, c.height);
  let n = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] > 200 && Math.abs(data[i] - rgb[0]) + Math.abs(data[i + 1] - rgb[1]) + Math.abs(data[i + 2] - rgb[2]) < 60) n++;
  }
  return n;
}

test('the VM\'s page graphs its CPU and memory with the figures now; leaving it stops the polling', async () => {
  const asked = [];
  const onRequest = (r) => { if (/\/api\/v1\/vms\/[^/]+\/stats$/.test(new URL(r.url()).pathname)) asked.push(r.url()); };
  page.on('request', onRequest);
  try {
    await go('#/vms/web-1');
    await page.locator('#vm-stats').waitFor();
    // Two samples 3 s apart make the first CPU figure.
    await page.waitForFunction(() => /^CPU \d+(\.\d)? %$/.test(document.querySelector('#stats-cpu')?.textContent ?? ''), null, { timeout: 20000 });
    assert.match(await text('#stats-memory'), /^Memory \d+(\.\d)? (MiB|GiB) resident \(size: 128 MiB\)$/);
    assert.equal(await text('#stats-message'), '', 'no word of figures missing');
    await page.waitForFunction(linePixels, ['stats-cpu-graph', [0x1f, 0x6f, 0xeb]], { timeout: 10000 });
    assert.ok(await page.evaluate(linePixels, ['stats-memory-graph', [0x13, 0x73, 0x33]]) > 0, 'the RSS line is drawn');
    assert.ok(await page.evaluate(linePixels, ['stats-memory-graph', [0xa1, 0x5c, 0x00]]) > 50, 'the size\'s memory line is drawn');
    await shot('12-vm-stats');
  } finally {
    page.off('request', onRequest);
  }
  assert.ok(asked.length >= 2, `asked ${asked.length} times`);
  page.on('request', onRequest);
  try {
    await go('#/vms');
    await page.locator('#vm-rows').waitFor();
    const before = asked.length;
    await page.waitForTimeout(4000);
    assert.equal(asked.length, before, 'the stats are still asked for after leaving the VM\'s page');
  } finally {
    page.off('request', onRequest);
  }
});

test('a snapshot taken from the VM\'s page becomes ready', async () => {
  await go('#/vms/web-1');
  await page.locator('#snapshot-form').waitFor();
  await page.fill('#snapshot-name', 'first');
  // One operation at a time: the page offers it once the creation is done.
  await page.locator('#take-snapshot:not([disabled])').waitFor({ timeout: SLOW });
  await page.click('#take-snapshot');
  await page.locator('#snapshot-rows tr[data-snapshot-name="first"][data-state="ready"]').waitFor({ timeout: SLOW });
  assert.equal(await page.locator('#snapshot-form-error').innerText(), '');
  await shot('13-snapshot');
});

test('deleting the VM asks first; once confirmed it disappears from the list', async () => {
  await go('#/vms/web-1');
  const del = page.locator('#vm-top button[data-action="delete"]');
  await del.click();
  const dialog = page.locator('dialog[open]');
  await dialog.waitFor();
  assert.match(await dialog.innerText(), /Delete web-1\?/);
  await shot('14-delete-confirm');
  await dialog.locator('button:has-text("Cancel")').click();
  await dialog.waitFor({ state: 'detached' });
  assert.equal((await cp.get('/v1/vms/web-1')).body.desired_state, 'running', 'cancel deletes nothing');

  await del.click();
  await page.locator('dialog[open] button:has-text("Delete VM")').click();
  await page.waitForURL(/#\/vms$/);
  // The list, once loaded, shows it going, then none left (the empty row
  // is drawn only from a loaded list).
  await page.locator('#vm-rows tr.empty').waitFor({ timeout: SLOW });
  assert.equal(await page.locator('#vm-rows tr[data-vm-name="web-1"]').count(), 0);
  assert.equal((await cp.get('/v1/vms/web-1')).status, 404);
  assert.equal(await page.evaluate(() => window.noReloadMark), 'still here', 'the page was reloaded');
  await shot('15-vm-deleted');
});

test('no script error happened in the page', () => {
  assert.deepEqual(pageErrors, []);
});
