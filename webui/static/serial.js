// serial.js: a VM's first serial port in xterm.js (vendored, vendor/xterm/).
// The websocket carries raw bytes both ways: first the end of the serial
// log, then what the guest prints, live; keystrokes go to the guest as
// bytes.  Each (re)connect asks for a new single-use ticket.  Loaded only
// when a serial console is opened (app.js imports it on demand).
import { Terminal } from './vendor/xterm/xterm.js';
import { FitAddon } from './vendor/xterm/addon-fit.js';
import { consoleState } from './consolestate.js';
import { consoleSocketUrl, enc } from './api.js';
import { fullWindowToggle } from './fullwindow.js';
import { h, heading, title } from './ui.js';

// xterm.js's stylesheet, once, when the first serial console opens.
function loadStylesheet() {
  if (document.getElementById('xterm-css')) return;
  document.head.append(h('link', { id: 'xterm-css', rel: 'stylesheet', href: 'vendor/xterm/xterm.css' }));
}

export function mount(root, name) {
  title(`${name} serial console`);
  loadStylesheet();
  let ws = null;
  let closedByUs = false;
  const encoder = new TextEncoder();
  const status = h('span', { class: 'console-status', role: 'status', 'aria-live': 'polite', id: 'serial-status' }, 'Connecting…');
  const reconnect = h('button', { type: 'button', id: 'serial-reconnect', hidden: true }, 'Reconnect');
  const state = consoleState(status, reconnect);
  const screen = h('div', { class: 'serial-screen', id: 'serial-screen' });
  const view = h('div', { class: 'console-view serial', id: 'serial-view' },
    h('div', { class: 'console-bar' },
      h('a', { href: `#/vms/${enc(name)}`, class: 'button small' }, `← ${name}`),
      status,
      h('span', { class: 'spacer' }),
      reconnect),
    screen);
  const fit = new FitAddon();
  const refit = () => { try { fit.fit(); } catch { /* not laid out yet */ } };
  const full = fullWindowToggle(view, refit);
  view.querySelector('.console-bar').insertBefore(full.button, reconnect);
  root.append(h('div', { class: 'visually-hidden' }, heading(`Serial console of ${name}`)), view);

  const term = new Terminal({
    convertEol: false,
    cursorBlink: true,
    scrollback: 5000,
    fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace',
    fontSize: 14,
    screenReaderMode: false,
    theme: { background: '#111318' },
  });
  term.loadAddon(fit);
  term.open(screen);
  refit();
  const resized = new ResizeObserver(refit);
  resized.observe(screen);
  // What is typed goes to the guest as bytes.
  const typed = term.onData((data) => {
    if (ws?.readyState === WebSocket.OPEN) ws.send(encoder.encode(data));
  });

  function disconnected(text) {
    state.lost(text);
    ws = null;
  }

  async function connect() {
    state.connecting();
    let target;
    try {
      target = await consoleSocketUrl(name, 'serial');
    } catch (err) {
      disconnected(`Cannot open the serial console: ${err.message}`);
      return;
    }
    if (closedByUs) return;
    term.reset();
    const socket = new WebSocket(target.url, ['binary']);
    socket.binaryType = 'arraybuffer';
    ws = socket;
    socket.onopen = () => {
      state.connected(`Connected${target.relayed ? '' : ' (directly to the host)'}: type to talk to the guest`);
      term.focus();
    };
    socket.onmessage = (ev) => {
      term.write(typeof ev.data === 'string' ? ev.data : new Uint8Array(ev.data));
    };
    socket.onclose = (ev) => {
      if (closedByUs || ws !== socket) return;
      disconnected(ev.code === 1000 ? 'Disconnected.' : `The connection was lost or refused${ev.reason ? `: ${ev.reason}` : ''}.`);
    };
  }

  reconnect.addEventListener('click', connect);
  connect();
  return () => {
    closedByUs = true;
    full.dispose();
    resized.disconnect();
    typed.dispose();
    ws?.close();
    term.dispose();
  };
}
