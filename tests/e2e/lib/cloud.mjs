// What the end-to-end tests share: a control plane and an agent on loopback
// with a local Debian image imported, operations waited on by long-polling,
// an SSH key pair whose private half the tests keep, SSH into a guest from
// an argv with a timeout on every call, a tiny .deb built on the host, and
// the agent's log and serial consoles printed when a test fails.
// The daemons and helpers come from tests/integration/lib, not copies.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane } from '../../integration/lib/controlplane.mjs';
import { Agent, until } from '../../integration/lib/agent.mjs';

export { alive, processArgv, until } from '../../integration/lib/agent.mjs';
export { serveDirectory } from '../../integration/lib/imageserver.mjs';
export { debianImage } from '../../integration/lib/debian_image.mjs';

const TERMINAL = ['succeeded', 'failed'];

// A control plane, one agent joined to it, the image of `manifest` imported
// and the public key of a fresh key pair uploaded as 'tester'.
export class Cloud {
  async start({ manifest }) {
    this.t0 = Date.now();
    this.key = makeKeyPair();
    this.cp = await startControlPlane();
    this.agent = await new Agent(this.cp).start();
    await until('the host to join', async () =>
      (await this.cp.get('/v1/hosts')).body.hosts.find((h) => h.state === 'up'), 60000);
    const img = await this.cp.post('/v1/images/import', { manifest });
    assert.equal(img.status, 201, `import ${manifest}: ${JSON.stringify(img.body)}`);
    this.image = img.body;
    const k = await this.cp.post('/v1/ssh-keys', { name: 'tester', public_key: this.key.publicKey });
    assert.equal(k.status, 201, JSON.stringify(k.body));
    return this;
  }

  // Not Agent.cleanup(), which trusts the pid in each state.json: a test
  // that failed midway may leave a QEMU that state.json does not name.
  // Kill what still runs with a VM's directory in its argv.
  async cleanup() {
    if (this.agent) {
      const timer = setTimeout(() => this.agent.proc?.kill('SIGKILL'), 20000);
      await this.agent.stop('SIGTERM');
      clearTimeout(timer);
      for (const id of this.agent.vmIds()) {
        for (const pid of processesUsing(this.agent.vmDir(id))) {
          try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
        }
      }
      rmSync(this.agent.dataDir, { recursive: true, force: true });
    }
    await this.cp?.cleanup();
    this.key?.cleanup();
  }

  // Seconds since start(), for the log lines that say where the time goes.
  elapsed() { return ((Date.now() - this.t0) / 1000).toFixed(0); }
  note(what) { console.log(`# [${this.elapsed()} s] ${what}`); }

  async createVm(spec) {
    const r = await this.cp.post('/v1/vms', { ssh_keys: ['tester'], ...spec });
    assert.equal(r.status, 202, `create ${spec.name}: ${JSON.stringify(r.body)}`);
    return r.body;
  }

  async vm(idOrName) {
    const r = await this.cp.get(`/v1/vms/${idOrName}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  }

  // Long-polls until the operation ends (or `timeout` seconds pass) and
  // returns it as last seen, whatever its status.
  async finish(op, timeout = 1200) {
    const deadline = Date.now() + timeout * 1000;
    let last = op;
    while (!TERMINAL.includes(last.status) && Date.now() < deadline) {
      const r = await this.cp.get(`/v1/operations/${op.id}/wait?timeout=60`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      last = r.body;
    }
    return last;
  }

  // The operation must succeed; the assertion message carries the operation.
  async succeed(op, timeout) {
    const done = await this.finish(op, timeout);
    assert.equal(done.status, 'succeeded', `operation ${op.type ?? ''} ${op.id}: ${JSON.stringify(done)}`);
    return done;
  }

  async action(vm, type, timeout) {
    const r = await this.cp.post(`/v1/vms/${vm}/actions`, { type });
    assert.equal(r.status, 202, `${type} ${vm}: ${JSON.stringify(r.body)}`);
    return this.succeed(r.body.operation, timeout);
  }

  async remove(vm, timeout = 300) {
    const r = await this.cp.del(`/v1/vms/${vm}`);
    assert.equal(r.status, 202, `delete ${vm}: ${JSON.stringify(r.body)}`);
    return this.succeed(r.body.operation, timeout);
  }

  // Deletes the VM if it still exists, quietly: clean-up after a failure.
  async discard(vm) {
    const r = await this.cp.del(`/v1/vms/${vm}`).catch(() => null);
    if (r?.status === 202) await this.finish(r.body.operation, 300).catch(() => {});
  }

  serialLog(id) {
    try { return readFileSync(join(this.agent.vmDir(id), 'serial.log'), 'utf8'); } catch { return ''; }
  }

  // The agent's log and each VM's serial console, ends only.
  diagnostics() {
    const parts = [`--- agent log (last 6000 bytes) ---\n${(this.agent?.log ?? '').slice(-6000)}`];
    for (const id of this.agent?.vmIds() ?? []) {
      parts.push(`--- ${id}/serial.log (last 4000 bytes) ---\n${this.serialLog(id).slice(-4000)}`);
    }
    return parts.join('\n');
  }

  // Runs a test body; on failure prints the diagnostics before rethrowing.
  async explain(fn) {
    try {
      return await fn();
    } catch (e) {
      console.error(this.diagnostics());
      throw e;
    }
  }

  // `ssh -p PORT user@host` as the VM's JSON says, with our key.
  ssh(vm, command, opts) {
    return ssh({ key: this.key.privateKeyFile, user: vm.ssh.user, host: vm.ssh.host, port: vm.ssh.port }, command, opts);
  }

  // The command must exit 0; returns its stdout.
  async sshOk(vm, command, opts) {
    const r = await this.ssh(vm, command, opts);
    assert.equal(r.code, 0, `ssh ${vm.name}: '${command}' exited ${r.code}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  }

  // What every VM must be once ready, seen over SSH with our key: the
  // image's user, the VM's name as hostname, cloud-init done without
  // errors, passwordless sudo, and the VM's id as cloud-init's instance-id.
  async assertConfigured(vm) {
    assert.equal((await this.sshOk(vm, 'whoami')).trim(), 'debian');
    assert.equal((await this.sshOk(vm, 'hostname')).trim(), vm.name);
    const status = await this.ssh(vm, 'cloud-init status --wait', { timeoutMs: 120000 });
    assert.equal(status.code, 0, JSON.stringify(status));
    assert.match(status.stdout, /status: done/);
    const result = JSON.parse(await this.sshOk(vm, 'cat /run/cloud-init/result.json'));
    assert.deepEqual(result.v1.errors, [], 'cloud-init reports no errors');
    await this.sshOk(vm, 'sudo -n true');
    assert.equal((await this.sshOk(vm, 'cat /var/lib/cloud/data/instance-id')).trim(), vm.id);
  }

  // User-mode networking accepts the TCP connection before the guest's sshd
  // answers, so the first attempts may time out or be reset: retry.
  async waitSsh(vm, timeoutMs = 180000) {
    let last;
    await until(`SSH into ${vm.name} on port ${vm.ssh.port}`, async () => {
      last = await this.ssh(vm, 'true', { timeoutMs: 30000 });
      return last.code === 0;
    }, timeoutMs, 2000).catch((e) => {
      throw new Error(`${e.message}; last attempt: ${JSON.stringify(last)}`);
    });
  }
}

// An ed25519 key pair in a private temporary directory (ssh insists on 0600).
export function makeKeyPair() {
  const dir = mkdtempSync(join(tmpdir(), 'cumulus-e2e-key-'));
  const file = join(dir, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'e2e@cumulus', '-f', file]);
  return {
    privateKeyFile: file,
    publicKey: readFileSync(`${file}.pub`, 'utf8').trim(),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

// Runs one remote command; resolves { code, stdout, stderr } (code null
// when killed on timeout). ssh is spawned from an argv, never a shell.
export function ssh({ key, user, host, port }, command, { timeoutMs = 60000 } = {}) {
  const argv = [
    '-i', key, '-p', String(port),
    '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'ConnectTimeout=5', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR',
    '-o', 'IdentitiesOnly=yes', '-o', 'ServerAliveInterval=5', '-o', 'ServerAliveCountMax=3',
    `${user}@${host}`, command,
  ];
  return new Promise((resolve) => {
    execFile('ssh', argv, { timeout: timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8', maxBuffer: 4 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        resolve({ code, stdout, stderr: err && code === null ? `${stderr}\n(${err.message})` : stderr });
      });
  });
}

// A minimal Debian package (Architecture: all) built on the host with
// dpkg-deb: the guest has no network, so this is what it can install.
export function buildDeb(name, version = '1.0') {
  const dir = mkdtempSync(join(tmpdir(), 'cumulus-e2e-deb-'));
  try {
    const root = join(dir, 'root');
    mkdirSync(join(root, 'DEBIAN'), { recursive: true });
    mkdirSync(join(root, 'usr', 'share', name), { recursive: true });
    writeFileSync(join(root, 'DEBIAN', 'control'), [
      `Package: ${name}`, `Version: ${version}`, 'Architecture: all',
      'Maintainer: Cumulus tests <e2e@cumulus.invalid>',
      'Description: installed by cloud-init in the Cumulus end-to-end tests', '',
    ].join('\n'));
    writeFileSync(join(root, 'usr', 'share', name, 'hello'), `hello from ${name}\n`);
    const deb = join(dir, `${name}_${version}_all.deb`);
    execFileSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', root, deb], { stdio: ['ignore', 'ignore', 'pipe'] });
    return { name, version, base64: readFileSync(deb).toString('base64') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Pids of the processes whose argv mentions `path` (a VM's directory): any
// QEMU still running for that VM.
export function processesUsing(path) {
  const pids = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(path)) pids.push(Number(p));
    } catch { /* gone meanwhile */ }
  }
  return pids;
}

export function gone(path) { return !existsSync(path); }
