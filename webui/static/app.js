// app.js: the dashboard's entry point.  Sign-in with the admin token (kept
// in this tab's sessionStorage, sent as a Bearer header, never in a URL),
// the live event stream and the operations tracker while signed in, and a
// hash router (#/vms, #/vms/NAME, #/create, ...) that mounts one view at a
// time in <main> and unmounts the last.  Each view is an ES module with
// mount(root, ...params) returning its clean-up; the consoles (noVNC,
// xterm.js) load only when opened.
import { api, onUnauthorized, token } from './api.js';
import * as events from './events.js';
import * as ops from './ops.js';
import { h, messageOf } from './ui.js';

const $ = (id) => document.getElementById(id);

const ROUTES = [
  { path: /^\/vms$/, nav: 'vms', load: () => import('./vms.js') },
  { path: /^\/create$/, nav: 'vms', load: () => import('./create.js') },
  { path: /^\/vms\/([^/]+)$/, nav: 'vms', load: () => import('./vm.js') },
  { path: /^\/vms\/([^/]+)\/console$/, nav: 'vms', load: () => import('./console.js'), wide: true },
  { path: /^\/vms\/([^/]+)\/serial$/, nav: 'vms', load: () => import('./serial.js'), wide: true },
  { path: /^\/keys$/, nav: 'keys', load: () => import('./keys.js') },
  { path: /^\/images$/, nav: 'images', load: () => import('./images.js') },
  { path: /^\/sizes$/, nav: 'sizes', load: () => import('./sizes.js') },
  { path: /^\/hosts$/, nav: 'hosts', load: () => import('./hosts.js') },
];

let unmount = null;
let routing = 0; // the latest navigation wins when modules load out of order

async function route() {
  if (!token.get()) return;
  const path = location.hash.replace(/^#/, '') || '/vms';
  const match = ROUTES.map((r) => ({ r, m: r.path.exec(path) })).find((x) => x.m);
  if (!match) {
    location.replace('#/vms');
    return;
  }
  const mine = ++routing;
  const root = $('view');
  let mod;
  try {
    mod = await match.r.load();
  } catch (err) {
    root.replaceChildren(h('p', { class: 'error', role: 'alert' }, `This page could not be loaded: ${messageOf(err)}. Reload to try again.`));
    return;
  }
  if (mine !== routing) return;
  unmount?.();
  unmount = null;
  root.replaceChildren();
  document.body.classList.toggle('wide', Boolean(match.r.wide));
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.nav === match.r.nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const params = match.m.slice(1).map(decodeURIComponent);
  unmount = mod.mount(root, ...params) ?? null;
  // Focus the new view's heading: what a screen reader user expects after
  // following a link in a single-page app.
  root.querySelector('h2')?.focus({ preventScroll: true });
}

function showLive(state) {
  const el = $('live');
  el.dataset.state = state;
  el.textContent = { live: 'Live', reconnecting: 'Reconnecting…', closed: 'Offline' }[state] ?? state;
  el.title = state === 'live' ? 'Changes show as they happen' : 'The live updates are down: trying again (the pages still refresh now and then)';
}

let signedIn = false;
function show(yes) {
  signedIn = yes;
  $('sign-in').hidden = signedIn;
  $('app').hidden = !signedIn;
  $('sign-out').hidden = !signedIn;
  $('nav').hidden = !signedIn;
  $('live').hidden = !signedIn;
  if (signedIn) {
    events.start();
    ops.start();
    route();
  } else {
    unmount?.();
    unmount = null;
    $('view').replaceChildren();
    events.stop();
    ops.stop();
    $('token').focus();
  }
}

function signOut(why = '') {
  token.clear();
  $('sign-in-error').textContent = why;
  show(false);
}

onUnauthorized(() => {
  if (signedIn) signOut('That token is no longer accepted: sign in again.');
});
events.onStatus(showLive);

$('sign-in').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const value = $('token').value.trim();
  const button = $('sign-in').querySelector('button[type=submit]');
  if (!value) {
    $('sign-in-error').textContent = 'Paste the admin token first.';
    return;
  }
  token.set(value);
  button.disabled = true;
  try {
    await api.get('/v1/vms?limit=1');
    $('token').value = '';
    $('sign-in-error').textContent = '';
    show(true);
  } catch (err) {
    token.clear();
    $('sign-in-error').textContent = err.status === 401
      ? 'That token is not accepted: copy it again from the control plane\'s data directory (admin-token).'
      : messageOf(err);
  } finally {
    button.disabled = false;
  }
});
$('sign-out').addEventListener('click', () => signOut());
window.addEventListener('hashchange', route);
show(Boolean(token.get()));
