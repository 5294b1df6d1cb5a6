// console.js: a VM's screen in the browser with noVNC (vendored ES modules,
// vendor/novnc/), over the console websocket the webui relays on this
// origin.  Scaled to the window or 1:1, full-window, Ctrl-Alt-Del.  Every
// (re)connect asks for a new ticket: they are single-use and good for 30 s.
// Loaded only when a console is opened (app.js imports it on demand).
import RFB from './vendor/novnc/core/rfb.js';
import { consoleState } from './consolestate.js';
import { consoleSocketUrl, enc } from './api.js';
import { fullWindowToggle } from './fullwindow.js';
import { h, heading, title } from './ui.js';

const SCALE_KEY = 'cumulus.console.scaled';

export function mount(root, name) {
  title(`${name} console`);
  let rfb = null;
  let closedByUs = false;
  const status = h('span', { class: 'console-status', role: 'status', 'aria-live': 'polite', id: 'console-status' }, 'Connecting…');
  const screen = h('div', { class: 'vnc-screen', id: 'vnc-screen', 'aria-label': `The screen of ${name}`, role: 'application' });
  const scaled = h('input', { type: 'checkbox', id: 'console-scale', checked: localStorage.getItem(SCALE_KEY) !== '0' });
  const cad = h('button', { type: 'button', id: 'console-cad', disabled: true, title: 'Send Ctrl-Alt-Del to the guest' }, 'Ctrl-Alt-Del');
  const reconnect = h('button', { type: 'button', id: 'console-reconnect', hidden: true }, 'Reconnect');
  const state = consoleState(status, reconnect);
  const view = h('div', { class: 'console-view', id: 'console-view' },
    h('div', { class: 'console-bar' },
      h('a', { href: `#/vms/${enc(name)}`, class: 'button small' }, `← ${name}`),
      status,
      h('span', { class: 'spacer' }),
      h('label', { class: 'check', for: 'console-scale' }, scaled, ' Scale to fit'),
      cad,
      reconnect),
    screen);
  const full = fullWindowToggle(view, () => { if (rfb) rfb.scaleViewport = scaled.checked; });
  view.querySelector('.console-bar').insertBefore(full.button, reconnect);
  root.append(h('div', { class: 'visually-hidden' }, heading(`Console of ${name}`)), view);

  scaled.addEventListener('change', () => {
    localStorage.setItem(SCALE_KEY, scaled.checked ? '1' : '0');
    if (rfb) rfb.scaleViewport = scaled.checked;
  });
  cad.addEventListener('click', () => { rfb?.sendCtrlAltDel(); rfb?.focus(); });
  reconnect.addEventListener('click', connect);

  function disconnected(text) {
    state.lost(text);
    cad.disabled = true;
    rfb = null;
  }

  async function connect() {
    state.connecting();
    let target;
    try {
      target = await consoleSocketUrl(name, 'vnc');
    } catch (err) {
      disconnected(`Cannot open the console: ${err.message}`);
      return;
    }
    if (closedByUs) return;
    screen.replaceChildren();
    rfb = new RFB(screen, target.url, { wsProtocols: ['binary'] });
    rfb.scaleViewport = scaled.checked;
    rfb.resizeSession = false;
    rfb.background = '#111';
    rfb.focusOnClick = true;
    rfb.addEventListener('connect', () => {
      state.connected(`Connected${target.relayed ? '' : ' (directly to the host)'}`);
      cad.disabled = false;
      rfb?.focus();
    });
    rfb.addEventListener('disconnect', (e) => {
      if (closedByUs) return;
      disconnected(e.detail.clean ? 'Disconnected.' : 'The connection was lost or refused (the VM may have stopped).');
    });
    rfb.addEventListener('securityfailure', (e) => disconnected(`Refused: ${e.detail.reason ?? 'security failure'}`));
    rfb.addEventListener('desktopname', (e) => { title(`${e.detail.name || name} console`); });
  }

  connect();
  return () => {
    closedByUs = true;
    full.dispose();
    rfb?.disconnect();
    rfb = null;
  };
}
