// ops.js: long work under way (operations: a VM's creation with its image
// download and boot, start, stop, snapshots, images made from snapshots),
// kept current from the live events (and, in case the stream missed one,
// from GET /v1/operations/{id} every few seconds while they go), and drawn
// as progress bars next to what they work on.  Views ask forTarget(id) and hear changes through onChange.
import { api, listAll } from './api.js';
import * as events from './events.js';
import { h, progressBar } from './ui.js';

const ops = new Map(); // id -> operation, as the API has it
const listeners = new Set();
let pollTimer = null;
let unsubscribe = null;

const FINISHED = new Set(['succeeded', 'failed']);
export const finished = (op) => FINISHED.has(op?.status);

// fn(op) whenever an operation changes; returns the unsubscriber.
export function onChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

// Records (or updates) an operation the app learnt of, e.g. a 202 answer.
export function track(op) {
  if (!op?.id) return;
  const merged = { ...ops.get(op.id), ...op };
  ops.set(op.id, merged);
  for (const fn of listeners) fn(merged);
}

// The operation to show for a resource: the newest one still going, else
// the newest that failed in the last 10 minutes (so its reason stays in
// view), else null.
export function forTarget(targetId) {
  let going = null, failed = null;
  for (const op of ops.values()) {
    if (op.target?.id !== targetId) continue;
    if (!finished(op) && (!going || op.created_at > going.created_at)) going = op;
    if (op.status === 'failed' && Date.now() - Date.parse(op.finished_at ?? op.updated_at ?? 0) < 600000 &&
        (!failed || (op.updated_at ?? '') > (failed.updated_at ?? ''))) failed = op;
  }
  return going ?? failed;
}

export function inFlight() {
  return [...ops.values()].filter((op) => !finished(op));
}

// Forgets a failed operation once the person has read it.
export function dismiss(id) {
  const op = ops.get(id);
  ops.delete(id);
  if (op) for (const fn of listeners) fn({ ...op, dismissed: true });
}

// An operation event carries {operation: {id, type}, status | new,
// progress, message, error}; its target is what the operation works on.
function fromEvent(ev) {
  const d = ev.data ?? {};
  if (!d.operation?.id) return null;
  const op = {
    id: d.operation.id,
    type: d.operation.type,
    target: { type: ev.target?.type, id: ev.target?.id, name: ev.target?.name },
    status: d.new ?? d.status,
    progress: d.progress,
    message: d.message,
    updated_at: ev.time,
  };
  if (ev.type === 'operation.created') op.created_at = ev.time;
  if ('error' in d) op.error = d.error;
  if (FINISHED.has(op.status)) op.finished_at = ev.time;
  return op;
}

async function refresh(id) {
  try {
    track(await api.get(`/v1/operations/${encodeURIComponent(id)}`));
  } catch (err) {
    if (err.status === 404) ops.delete(id);
  }
}

// What is going on now, once at sign-in and after the stream was down.
async function loadInFlight() {
  try {
    const [pending, running] = await Promise.all([
      listAll('/v1/operations?status=pending', 'operations'),
      listAll('/v1/operations?status=running', 'operations'),
    ]);
    for (const op of [...pending, ...running]) track(op);
    // Those we showed as going that ended meanwhile.
    const now = new Set([...pending, ...running].map((op) => op.id));
    await Promise.all(inFlight().filter((op) => !now.has(op.id)).map((op) => refresh(op.id)));
  } catch {
    /* the views show their own errors; this is only progress */
  }
}

// Ended operations are kept 10 minutes (a failure's reason stays in view).
function forgetOld() {
  for (const [id, op] of ops) {
    if (finished(op) && Date.now() - Date.parse(op.finished_at ?? op.updated_at ?? 0) > 600000) ops.delete(id);
  }
}

export function start() {
  if (unsubscribe) return;
  const offEvents = events.subscribe('operation.', (ev) => {
    const op = fromEvent(ev);
    if (op) track(op);
  });
  const offStatus = events.onStatus((s) => { if (s === 'live') loadInFlight(); });
  unsubscribe = () => { offEvents(); offStatus(); };
  loadInFlight();
  // The fallback: ask how the work under way goes, often while the stream
  // is down, now and then while it is up.
  let tick = 0;
  pollTimer = setInterval(() => {
    tick++;
    if (events.status() !== 'live' || tick % 3 === 0) for (const op of inFlight()) refresh(op.id);
    forgetOld();
  }, 2000);
}

export function stop() {
  unsubscribe?.();
  unsubscribe = null;
  clearInterval(pollTimer);
  ops.clear();
}

const VERBS = {
  'vm.create': 'Creating',
  'vm.delete': 'Deleting',
  'vm.start': 'Starting',
  'vm.stop': 'Stopping',
  'vm.reboot': 'Rebooting',
  'vm.power_off': 'Powering off',
  'snapshot.create': 'Taking a snapshot',
  'snapshot.restore': 'Restoring a snapshot',
  'snapshot.delete': 'Deleting a snapshot',
  'image.create': 'Making the image',
  'image.bake': 'Baking the image',
  run: 'Running',
};

export function describe(op) {
  return VERBS[op.type] ?? op.type ?? 'Working';
}

// The element for a resource's operation: a progress bar with what is
// happening while it goes, the reason (and a dismiss button) if it failed,
// nothing otherwise.
export function statusElement(op) {
  if (!op) return null;
  if (op.status === 'failed') {
    const why = op.error?.message ?? op.message ?? 'no reason given';
    return h('div', { class: 'op-failed', role: 'alert' },
      h('span', {}, `${describe(op)} failed: ${why}`),
      h('button', { type: 'button', class: 'small link', onclick: () => dismiss(op.id), 'aria-label': 'Dismiss this message' }, 'Dismiss'));
  }
  if (finished(op)) return null;
  const pct = op.progress ?? 0;
  const text = `${describe(op)}${op.message ? `: ${op.message}` : ''} (${pct}%)`;
  return progressBar(pct, text, `${describe(op)}: progress`);
}
