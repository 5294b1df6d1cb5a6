// Starts a real cumulus-controlplane on a free loopback port with a fresh
// data directory, and gives tests a small fetch-based client.  Every
// process and file is cleaned up, even when a test fails.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { judgeDaemon, stderrDrained } from './sanitizer.mjs';

const BIN_DIR = process.env.CUMULUS_BIN_DIR ?? new URL('../../../build/bin', import.meta.url).pathname;

export class ControlPlane {
  // `listen`: the address to serve on (a port is picked), 127.0.0.1 unless
  // agents in other network namespaces must reach it (lib/testhosts.mjs):
  // plain HTTP there needs --insecure-http, which is passed then (the
  // daemon refuses it otherwise).  TLS: --tls-cert/--tls-key in extraArgs;
  // `base` then starts with https:// (fetch cannot verify with our CA: give
  // `ca`, the CA's PEM, and request() uses node:https with it).
  constructor({ dataDir, extraArgs = [], env = {}, listen = '127.0.0.1', ca } = {}) {
    this.ca = ca;
    this.ownsDir = !dataDir;
    this.listenHost = listen;
    this.dataDir = dataDir ?? mkdtempSync(join(tmpdir(), 'cumulus-cp-'));
    this.extraArgs = extraArgs;
    this.env = env;
    this.log = '';
  }

  async start() {
    const bin = join(BIN_DIR, 'cumulus-controlplane');
    if (this.proc) { // started again: the last run's report is judged before its log goes
      await stderrDrained(this.proc);
      judgeDaemon('the control plane (an earlier run)', this.log);
    }
    this.log = '';
    const insecure = isLoopback(this.listenHost) ? [] : ['--insecure-http'];
    this.proc = spawn(bin, ['--listen', `${this.listenHost}:${this.port ?? 0}`, '--data-dir', this.dataDir, ...insecure, ...this.extraArgs], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1', ...this.env },
    });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve({ code, signal })));
    this.port = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`control plane did not start:\n${this.log}`)), 15000);
      this.proc.stderr.on('data', (chunk) => {
        this.log += chunk;
        const m = /listening on (https?):\/\/\S+ \(port (\d+)\)/.exec(this.log);
        if (m) { clearTimeout(timer); this.scheme = m[1]; resolve(Number(m[2])); }
      });
      this.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`control plane exited (${code ?? signal}) before listening:\n${this.log}`));
      });
    });
    this.base = `${this.scheme}://${this.listenHost}:${this.port}`;
    this.token = readFileSync(join(this.dataDir, 'admin-token'), 'utf8').trim();
    return this;
  }

  // fetch with the admin token; returns { status, headers, body (parsed JSON or text) }.
  async request(method, path, body, { token = this.token, raw = false, headers = {} } = {}) {
    const h = { ...headers };
    if (token) h.Authorization = `Bearer ${token}`;
    let payload;
    if (body !== undefined) payload = raw ? body : JSON.stringify(body);
    const res = this.ca ? await httpsFetch(this.base + path, { method, headers: h, body: payload, ca: this.ca })
      : await fetch(this.base + path, { method, headers: h, body: payload });
    const text = await res.text();
    let parsed = text;
    try { parsed = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
    return { status: res.status, headers: res.headers, body: parsed };
  }

  // Registers a host through the join API as an agent would, without
  // running one: VMs are placed on it and their orders wait (nothing
  // answers at its api_url) and it never sends a heartbeat, so start the
  // control plane with a long --host-timeout.  For tests of the API and
  // of placement; the agent's own tests run a real agent.
  async joinHost(fields = {}) {
    const joinToken = readFileSync(join(this.dataDir, 'join-token'), 'utf8').trim();
    const body = {
      name: 'host-a', address: '127.0.0.1', api_url: 'http://127.0.0.1:9', architecture: 'x86_64',
      accelerators: ['tcg'], vcpus: 64, memory_mib: 262144, disk_gib: 10000, qemu_version: '7.2.0',
      order_token: 'cuord_no-agent-listens', ...fields,
    };
    const r = await this.post('/v1/hosts/join', body, { token: joinToken });
    if (r.status !== 201 && r.status !== 200) throw new Error(`join ${body.name}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.host;
  }

  // The operation once it has ended (or as last seen after `timeout`
  // seconds): long-polls in steps under fetch's 300 s header timeout.
  async finished(op, timeout = 600) {
    const deadline = Date.now() + timeout * 1000;
    let r;
    do {
      r = await this.get(`/v1/operations/${op.id}/wait?timeout=60`);
    } while (!['succeeded', 'failed'].includes(r.body.status) && Date.now() < deadline);
    return r.body;
  }

  get(path, opts) { return this.request('GET', path, undefined, opts); }
  post(path, body, opts) { return this.request('POST', path, body, opts); }
  del(path, opts) { return this.request('DELETE', path, undefined, opts); }

  // Stops with SIGTERM (or `signal`) and waits; returns the exit status.
  async stop(signal = 'SIGTERM') {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return this.exited;
    this.proc.kill(signal);
    return this.exited;
  }

  // Stops gracefully and fails the test file if the daemon did not exit
  // cleanly or its stderr holds a sanitizer report (lib/sanitizer.mjs):
  // that is how a leak or memory error in the daemon fails the test.
  async cleanup() {
    const running = this.proc && this.proc.exitCode === null && this.proc.signalCode === null;
    let result;
    if (running) {
      const timer = setTimeout(() => this.proc.kill('SIGKILL'), 10000);
      result = await this.stop('SIGTERM');
      clearTimeout(timer);
    }
    await stderrDrained(this.proc);
    if (this.ownsDir) rmSync(this.dataDir, { recursive: true, force: true });
    if (this.proc) judgeDaemon('the control plane', this.log, result);
  }
}

// A fetch() look-alike over node:https that trusts `ca`: { status, headers, text() }.
function httpsFetch(url, { method, headers, body, ca }) {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method, headers, ca }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) h.set(k, Array.isArray(v) ? v.join(', ') : v);
        resolve({ status: res.statusCode, headers: h, text: async () => text });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

// 127.0.0.0/8 and ::1: where the daemons serve plain HTTP without being told.
export function isLoopback(host) {
  return /^127\./.test(host) || host === '::1' || host === 'localhost';
}

export async function startControlPlane(opts) {
  return new ControlPlane(opts).start();
}
