// ui.js: small DOM helpers every view uses: building elements (text is
// always set as text, never parsed as HTML), showing an error next to what
// caused it, confirmation dialogs, copy buttons and the figures people read
// (sizes, times, states).  No view logic here.

// h('button', { class: 'primary', onclick: fn }, 'Save') -> <button>.
// Attributes: class, dataset, on* handlers, boolean properties (hidden,
// disabled, checked...), anything else as an attribute; null/false skips it.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'class') el.className = value;
    else if (key in el && typeof value !== 'string') el[key] = value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  el.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);

// An element for errors: role=alert so a screen reader says it when it is set.
export function errorBox(id) {
  return h('p', { class: 'error', role: 'alert', id, 'aria-live': 'assertive' });
}

// Shows `err` (an ApiError or any Error) in the error box that belongs to
// `near`: the box right after it, or made there.  Clears it when err is null.
export function showError(near, err) {
  let box = near?.nextElementSibling?.classList?.contains('error') ? near.nextElementSibling : null;
  if (!box && err) {
    box = errorBox();
    near.after(box);
  }
  if (box) box.textContent = err ? messageOf(err) : '';
}

export function messageOf(err) {
  if (!err) return '';
  return err.message || String(err);
}

// A form whose API error names a field: the message goes in that field's
// error box (data-error-for, inputs named as the API's fields), else in
// the form's own error box.
export function showFormError(form, err, formBox) {
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  for (const el of form.querySelectorAll('[data-error-for]')) el.textContent = '';
  formBox.textContent = '';
  if (!err) return;
  const fieldBox = err.field ? form.querySelector(`[data-error-for="${CSS.escape(err.field)}"]`) : null;
  if (!fieldBox) {
    formBox.textContent = messageOf(err);
    return;
  }
  fieldBox.textContent = messageOf(err);
  const input = form.querySelector(`[name="${CSS.escape(err.field)}"]`);
  if (!input) return;
  input.setAttribute('aria-invalid', 'true');
  input.focus();
  // Once changed, the field is no longer what the message was about.
  input.addEventListener('input', () => {
    input.removeAttribute('aria-invalid');
    fieldBox.textContent = '';
  }, { once: true });
}

// A labelled input with a hint and a place for its error, wired with
// aria-describedby.  `input` is an <input>, <select> or <textarea> whose
// id and name are set.
export function field(label, input, hint) {
  const hintId = hint ? `${input.id}-hint` : null;
  const errorId = `${input.id}-error`;
  input.setAttribute('aria-describedby', [hintId, errorId].filter(Boolean).join(' '));
  return h('div', { class: 'field' },
    h('label', { for: input.id }, label),
    input,
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    h('p', { class: 'field-error error', id: errorId, role: 'alert', dataset: { errorFor: input.name } }));
}

// A modal question with a <dialog>: resolves to the form's values (an
// object) when confirmed, null when cancelled.  `body` may hold inputs.
export function ask({ title, body = [], confirm = 'OK', danger = false }) {
  return new Promise((resolve) => {
    const form = h('form', { method: 'dialog' },
      h('h2', { id: 'dialog-title' }, title),
      ...[].concat(body),
      h('div', { class: 'buttons' },
        h('button', { type: 'button', value: 'cancel', onclick: () => dialog.close('cancel') }, 'Cancel'),
        h('button', { type: 'submit', value: 'ok', class: danger ? 'danger' : 'primary' }, confirm)));
    const dialog = h('dialog', { 'aria-labelledby': 'dialog-title' }, form);
    dialog.addEventListener('close', () => {
      const values = dialog.returnValue === 'ok' ? Object.fromEntries(new FormData(form)) : null;
      dialog.remove();
      resolve(values);
    });
    document.body.append(dialog);
    dialog.showModal();
    (form.querySelector('input, textarea, select') ?? form.querySelector('button[type=submit]')).focus();
  });
}

// A button that copies `text`; says so for a moment.  The clipboard API
// needs a secure context (https or localhost), so a hidden textarea and
// execCommand stand in over plain http.
export function copyButton(text, label = 'Copy') {
  const button = h('button', { type: 'button', class: 'copy small', 'aria-label': `${label}: ${text}` }, label);
  button.addEventListener('click', async () => {
    let ok = false;
    try {
      await navigator.clipboard.writeText(text);
      ok = true;
    } catch {
      const area = h('textarea', { class: 'offscreen', readonly: true });
      area.value = text;
      document.body.append(area);
      area.select();
      ok = document.execCommand('copy');
      area.remove();
    }
    button.textContent = ok ? 'Copied' : 'Select and copy it';
    setTimeout(() => { button.textContent = label; }, 1500);
  });
  return button;
}

// <progress> with what is happening in words; role and value for screen readers.
export function progressBar(percent, text, label = 'Progress') {
  const bar = h('progress', { max: 100, value: Math.max(0, Math.min(100, percent ?? 0)), 'aria-label': label });
  return h('div', { class: 'progress' }, bar, h('span', { class: 'progress-text' }, text));
}

// A capacity bar: `used` of `total` (in `unit`), with the free part said.
export function capacityBar(label, used, total, format) {
  const pct = total > 0 ? Math.round((used / total) * 100) : 0;
  return h('div', { class: 'capacity' },
    h('div', { class: 'capacity-label' }, h('span', {}, label), h('span', {}, `${format(used)} of ${format(total)} used · ${format(total - used)} free`)),
    h('div', { class: `meter${pct >= 90 ? ' full' : pct >= 70 ? ' high' : ''}`, role: 'meter', 'aria-label': `${label} used`,
      'aria-valuemin': 0, 'aria-valuemax': total, 'aria-valuenow': used, 'aria-valuetext': `${pct}% used` },
    h('div', { class: 'meter-fill', style: `width: ${pct}%` })));
}

export function badge(state, extraClass = '') {
  return h('span', { class: `badge state-${state} ${extraClass}`.trim() }, state ?? 'unknown');
}

export function mib(n) {
  if (n === null || n === undefined) return '–';
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} GiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} GiB`;
  return `${n} MiB`;
}

export function gib(n) {
  if (n === null || n === undefined) return '–';
  return n >= 1024 ? `${(n / 1024).toFixed(1)} TiB` : `${n} GiB`;
}

export function bytes(n) {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n >= 10 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}

export function sizeFigures(s) {
  return `${s.vcpus} vCPU${s.vcpus === 1 ? '' : 's'} · ${mib(s.memory_mib)} RAM · ${gib(s.disk_gib)} disk`;
}

export const archLabel = (a) => ({ x86_64: 'x86_64 (amd64)', aarch64: 'aarch64 (arm64)' })[a] ?? a;

// "3 min ago", with the exact time as a tooltip.
export function ago(iso) {
  if (!iso) return h('span', {}, '–');
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  let text;
  if (s < 45) text = 'just now';
  else if (s < 3600) text = `${Math.round(s / 60)} min ago`;
  else if (s < 86400) text = `${Math.round(s / 3600)} h ago`;
  else text = `${Math.round(s / 86400)} days ago`;
  return h('time', { datetime: iso, title: new Date(iso).toLocaleString() }, text);
}

export function title(text) {
  document.title = text ? `${text} · Cumulus` : 'Cumulus';
}

// The view's heading, focusable so a route change can move focus to it.
export function heading(text, ...after) {
  return h('div', { class: 'view-head' }, h('h2', { tabindex: -1 }, text), ...after);
}

// A table cell whose content sits in one box, so that on a phone, where
// rows become cards, its label (data-label) and its content are two columns.
export function td(attrs, ...children) {
  return h('td', attrs, h('div', { class: 'cell' }, ...children));
}

export function emptyRow(columns, text) {
  return h('tr', { class: 'empty' }, h('td', { colspan: columns }, text));
}

// Runs `fn` with `button` disabled (and busy) meanwhile; its error goes
// next to the button.
export async function busy(button, fn, errorNear = button) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  showError(errorNear, null);
  try {
    return await fn();
  } catch (err) {
    showError(errorNear, err);
    return undefined;
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

// Calls fn at most once per `ms` (trailing): many events, one refresh.
export function debounce(fn, ms = 200) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

// Calls `fn` again and again: every `fastMs` while `busy()` says something
// is changing (a VM booting, a snapshot being taken), else every `slowMs`.
// The live events make most of these calls find nothing new; they are
// there for what the events may miss (a stream cut, a proxy in between).
// Returns the function that stops it.
export function poll(fn, { fastMs = 3000, slowMs = 30000, busy = () => false } = {}) {
  let timer = null;
  let stopped = false;
  const next = () => {
    if (stopped) return;
    timer = setTimeout(async () => {
      if (!document.hidden) await Promise.resolve(fn()).catch(() => {});
      next();
    }, busy() ? fastMs : slowMs);
  };
  next();
  return () => { stopped = true; clearTimeout(timer); };
}
