// api.js: the control plane's REST API, reached through this origin's /api
// (cumulus-webui passes /api/<path> to the control plane's /<path>).  The
// admin token lives in this tab's sessionStorage and goes in the
// Authorization header, never in a URL.  A failed call throws an ApiError
// carrying the API's own words ({"error":{"code","message","field"}}), or
// words for a person when the server cannot be reached at all.

const TOKEN_KEY = 'cumulus.token';

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

export class ApiError extends Error {
  constructor(message, { status = 0, code = 'unreachable', field = null } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

// Called with the error when the control plane refuses the token (401):
// the app signs out.
let unauthorized = () => {};
export function onUnauthorized(fn) { unauthorized = fn; }

export function authHeaders(extra = {}) {
  return { Authorization: `Bearer ${token.get() ?? ''}`, ...extra };
}

// What a status means when the answer has no error body of the API's shape
// (e.g. a proxy in between answered).
function statusWords(status) {
  if (status === 401) return 'The token is not accepted: sign in again.';
  if (status === 403) return 'This token may not do that.';
  if (status === 404) return 'Not found: it may have just been deleted.';
  if (status === 413) return 'That is too large to send.';
  if (status === 502 || status === 504) return 'The control plane cannot be reached from the dashboard\'s server.';
  if (status === 503) return 'The service is unavailable for now: try again in a moment.';
  return `The server answered with an error (HTTP ${status}).`;
}

async function errorOf(res) {
  const body = await res.json().catch(() => null);
  const e = body?.error;
  return new ApiError(e?.message || statusWords(res.status), {
    status: res.status,
    code: e?.code ?? `http_${res.status}`,
    field: e?.field ?? null,
  });
}

// One call.  `raw`: the Response itself (a stream, a picture), once it is
// known to be a success.
export async function request(method, path, body, { signal, raw = false } = {}) {
  const headers = authHeaders(body === undefined ? {} : { 'Content-Type': 'application/json' });
  let res;
  try {
    res = await fetch(`/api${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal, cache: 'no-store' });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError('The dashboard\'s server cannot be reached: check that cumulus-webui is running and that this computer is online.');
  }
  if (!res.ok) {
    const err = await errorOf(res);
    if (res.status === 401) unauthorized(err);
    throw err;
  }
  if (raw) return res;
  if (res.status === 204) return null;
  return res.json();
}

export const api = {
  get: (path, opts) => request('GET', path, undefined, opts),
  post: (path, body = {}, opts) => request('POST', path, body, opts),
  del: (path, opts) => request('DELETE', path, undefined, opts),
};

// Every item of a paginated list (GET /v1/vms -> {vms: [...], next}),
// following `next` until it is null.
export async function listAll(path, key, opts) {
  const items = [];
  let next = path;
  while (next) {
    const page = await api.get(next, opts);
    items.push(...page[key]);
    next = page.next;
  }
  return items;
}

export const enc = encodeURIComponent;

// A picture the API serves (it needs the Authorization header, so no <img
// src> can fetch it): a Blob.
export async function fetchBlob(path, opts) {
  const res = await request('GET', path, undefined, { ...opts, raw: true });
  return res.blob();
}

// A websocket URL for a VM's console (type 'vnc' or 'serial').  Each call
// asks for a new ticket: tickets are single-use and good for 30 s.  The
// webui relays consoles on this origin at `proxy_path`; without it (an
// older webui) the agent's own URL is used, which works only when the
// agent allows this origin (--console-origins).
export async function consoleSocketUrl(vm, type) {
  const answer = await api.post(`/v1/vms/${enc(vm)}/console`, { type });
  if (answer.proxy_path) {
    const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    return { url: scheme + location.host + answer.proxy_path, relayed: true, answer };
  }
  return { url: answer.url, relayed: false, answer };
}
