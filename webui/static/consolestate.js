// consolestate.js: the status line and the Reconnect button that the
// screen (console.js) and the serial console (serial.js) share.
export function consoleState(status, reconnect) {
  const set = (text, cls) => {
    status.textContent = text;
    status.className = cls ? `console-status ${cls}` : 'console-status';
  };
  return {
    connecting() { reconnect.hidden = true; set('Connecting…'); },
    connected(text) { set(text, 'on'); },
    lost(text) { set(text, 'off'); reconnect.hidden = false; },
  };
}
