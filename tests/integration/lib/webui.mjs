// Starts a real cumulus-webui on a free loopback port, passing /api to a
// control plane, and stops it checking it exited cleanly and its stderr
// holds no sanitizer report (lib/sanitizer.mjs: how a leak or memory error
// in it fails the test).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { judgeDaemon, stderrDrained } from './sanitizer.mjs';

const BIN_DIR = process.env.CUMULUS_BIN_DIR ?? new URL('../../../build/bin', import.meta.url).pathname;

export class Webui {
  // `env`: more environment (sanitizer options, say); `command`: the argv
  // that runs the webui, before its flags (another build's binary under
  // valgrind, say).
  constructor(controlPlaneUrl, { args = [], env = {}, command = [join(BIN_DIR, 'cumulus-webui')] } = {}) {
    this.controlPlaneUrl = controlPlaneUrl;
    this.args = args;
    this.env = env;
    this.command = command;
    this.log = '';
  }

  async start() {
    const [cmd, ...rest] = this.command;
    this.proc = spawn(cmd, [...rest, '--listen', '127.0.0.1:0', '--control-plane', this.controlPlaneUrl, ...this.args], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1', ...this.env },
    });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve({ code, signal })));
    this.port = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`webui did not start:\n${this.log}`)), 30000);
      this.proc.stderr.on('data', (chunk) => {
        this.log += chunk;
        const m = /listening on (https?):\/\/\S+ \(port (\d+)\)/.exec(this.log);
        if (m) { clearTimeout(timer); this.scheme = m[1]; resolve(Number(m[2])); }
      });
      this.exited.then(({ code, signal }) => { clearTimeout(timer); reject(new Error(`webui exited (${code ?? signal}):\n${this.log}`)); });
    });
    this.base = `${this.scheme}://127.0.0.1:${this.port}`;
    return this;
  }

  // POST /api/v1/vms/{vm}/console through this webui, as the dashboard
  // asks: { status, body }, the body with the proxy_path to open here.
  async console(vm, token, type = 'vnc') {
    const res = await fetch(`${this.base}/api/v1/vms/${vm}/console`, {
      method: 'POST', body: JSON.stringify({ type }),
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    });
    return { status: res.status, body: await res.json() };
  }

  // The websocket URL of a path on this webui (a console's proxy_path).
  wsUrl(path) { return `ws://127.0.0.1:${this.port}${path}`; }

  // Stops with SIGTERM (or `signal`) and waits; returns the exit status.
  async stop(signal = 'SIGTERM') {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
    return this.exited;
  }

  // Fails the test file (without throwing: the caller's clean-up goes on)
  // on an unclean exit or a sanitizer report.
  async cleanup() {
    if (!this.proc) return;
    const result = await this.stop('SIGTERM');
    await stderrDrained(this.proc);
    judgeDaemon('the webui', this.log, result);
  }
}
