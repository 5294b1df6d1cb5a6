// Starts a real cumulus-agent joined to a control plane, on a free loopback
// port with a fresh data directory, and helpers to look at what it made.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isLoopback } from './controlplane.mjs';
import { judgeDaemon, stderrDrained } from './sanitizer.mjs';

const BIN_DIR = process.env.CUMULUS_BIN_DIR ?? new URL('../../../build/bin', import.meta.url).pathname;

export class Agent {
  // `host`: a test host from lib/testhosts.mjs (a network namespace or a
  // loopback address of its own); `args`: more flags (--vcpus, --emulation ...);
  // `env`: more environment (sanitizer options, say).
  constructor(cp, { name = 'host-1', dataDir, portBase, host, args = [], env = {} } = {}) {
    this.cp = cp;
    this.name = name;
    this.host = host;
    this.args = args;
    this.env = env;
    this.ownsDir = !dataDir;
    this.dataDir = dataDir ?? mkdtempSync(join(tmpdir(), 'cumulus-agent-'));
    // A port range of its own, away from other test runs.
    const base = portBase ?? 30000 + Math.floor(Math.random() * 300) * 100;
    this.ports = `${base}-${base + 99}`;
    this.log = '';
  }

  async start() {
    if (this.proc) { // started again: the last run's report is judged before its log goes
      await stderrDrained(this.proc);
      judgeDaemon(`the agent ${this.name} (an earlier run)`, this.log);
    }
    this.log = '';
    const address = this.host?.address ?? '127.0.0.1';
    const argv = [
      join(BIN_DIR, 'cumulus-agent'),
      '--control-plane', this.cp.base, '--join-token-file', join(this.cp.dataDir, 'join-token'),
      '--listen', `${address}:0`, '--data-dir', this.dataDir, '--name', this.name,
      '--vm-ports', this.ports, '--heartbeat-interval', '1', '--stop-timeout', '60',
      // A test host's veth address is not loopback: plain HTTP must be asked for.
      ...(isLoopback(address) ? [] : ['--insecure-http']), ...this.args,
    ];
    const [cmd, ...rest] = this.host ? this.host.wrap(argv) : argv;
    this.proc = spawn(cmd, rest, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...this.env } });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve({ code, signal })));
    this.proc.stderr.on('data', (c) => { this.log += c; if (process.env.CUMULUS_TEST_VERBOSE) process.stderr.write(c); });
    this.port = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`agent did not start:\n${this.log}`)), 30000);
      const check = () => {
        const m = /listening on (https?):\/\/\S+ \(port (\d+)\)/.exec(this.log);
        if (m) { clearTimeout(timer); this.scheme = m[1]; resolve(Number(m[2])); } else setTimeout(check, 50);
      };
      check();
      this.exited.then(({ code, signal }) => { clearTimeout(timer); reject(new Error(`agent exited (${code ?? signal}):\n${this.log}`)); });
    });
    return this;
  }

  async stop(signal = 'SIGTERM') {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return this.exited;
    this.proc.kill(signal);
    return this.exited;
  }

  vmDir(id) { return join(this.dataDir, 'vms', id); }
  vmState(id) { return JSON.parse(readFileSync(join(this.vmDir(id), 'state.json'), 'utf8')); }
  vmIds() { return existsSync(join(this.dataDir, 'vms')) ? readdirSync(join(this.dataDir, 'vms')) : []; }

  // Kills every QEMU this agent's VMs run (test clean-up), then removes
  // the data; fails the test file if the agent did not exit cleanly on
  // the SIGTERM sent here or its stderr holds a sanitizer report.
  async cleanup() {
    const running = this.proc && this.proc.exitCode === null && this.proc.signalCode === null;
    const result = await this.stop('SIGTERM');
    for (const id of this.vmIds()) {
      try {
        // pid 0 (a stopped VM) would signal our whole process group.
        const { pid } = this.vmState(id);
        if (Number.isInteger(pid) && pid > 0) process.kill(pid, 'SIGKILL');
      } catch { /* no state, or gone */ }
    }
    if (this.ownsDir) rmSync(this.dataDir, { recursive: true, force: true });
    await stderrDrained(this.proc);
    if (this.proc) judgeDaemon(`the agent ${this.name}`, this.log, running ? result : undefined);
  }
}

// The argv of a running process, from /proc.
export function processArgv(pid) {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
}

// Alive and not a zombie (QEMU daemonizes, so init reaps it, maybe late).
export function alive(pid) {
  try { process.kill(pid, 0); } catch { return false; }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3));
  } catch { return false; }
}

export async function until(what, fn, timeoutMs = 60000, stepMs = 250) {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
