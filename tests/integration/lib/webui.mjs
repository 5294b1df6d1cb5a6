// Starts a real cumulus-webui on a free loopback port, passing /api to a
// control plane, and stops it checking it exited cleanly (under ASan, how
// a leak or memory error in it fails the test).
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const BIN_DIR = process.env.CUMULUS_BIN_DIR ?? new URL('../../../build/bin', import.meta.url).pathname;

export class Webui {
  constructor(controlPlaneUrl, { args = [] } = {}) {
    this.controlPlaneUrl = controlPlaneUrl;
    this.args = args;
    this.log = '';
  }

  async start() {
    this.proc = spawn(join(BIN_DIR, 'cumulus-webui'), ['--listen', '127.0.0.1:0', '--control-plane', this.controlPlaneUrl, ...this.args], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1' },
    });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve({ code, signal })));
    this.port = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`webui did not start:\n${this.log}`)), 15000);
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

  async cleanup() {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGTERM');
    const { code, signal } = await this.exited;
    if (code !== 0) throw new Error(`webui exited with ${code ?? signal} on SIGTERM:\n${this.log.slice(-8000)}`);
  }
}
