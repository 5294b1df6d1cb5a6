// fullwindow.js: a button that makes a console fill the browser window (the
// page's header and navigation hidden), and back.  Not the browser's
// fullscreen: that one takes Esc, which the guest often needs.
import { h } from './ui.js';

export function fullWindowToggle(view, onChange = () => {}) {
  const button = h('button', { type: 'button', class: 'full-window-toggle', 'aria-pressed': 'false' }, 'Full window');
  const set = (on) => {
    view.classList.toggle('full-window', on);
    document.body.classList.toggle('has-full-window', on);
    button.setAttribute('aria-pressed', String(on));
    button.textContent = on ? 'Leave full window' : 'Full window';
    // Layout changes at the next frame; the viewer rescales after it.
    requestAnimationFrame(() => onChange(on));
  };
  button.addEventListener('click', () => set(!view.classList.contains('full-window')));
  return {
    button,
    dispose: () => document.body.classList.remove('has-full-window'),
  };
}
