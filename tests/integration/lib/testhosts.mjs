// Test hosts for multi-host tests: each agent gets a network namespace of
// its own with its own address (ip netns + a veth on a bridge that the
// control plane listens on), made here and removed after.  Where network
// namespaces cannot be made (not root, no iproute2), each agent gets a
// loopback address of its own instead (127.77.N.11, .12, ...).
//
//   const net = makeTestHosts(3);
//   cp = new ControlPlane({ listen: net.cpAddress });
//   new Agent(cp, { host: net.hosts[0], name: 'h1' })
//   net.hosts[0].disconnect(agent) / reconnect(agent): the host vanishes from
//   the network (link down; SIGSTOP of its agent on loopback) and comes back.
//   net.cleanup()
import { execFileSync } from 'node:child_process';

function ip(...args) {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function netnsWorks() {
  if (process.getuid?.() !== 0) return false;
  const probe = `cuprobe${process.pid % 100000}`;
  try {
    ip('netns', 'add', probe);
    ip('netns', 'del', probe);
    return true;
  } catch {
    return false;
  }
}

function netnsHosts(n) {
  const tag = Math.random().toString(36).slice(2, 6);
  const subnet = `10.201.${1 + Math.floor(Math.random() * 250)}`;
  const bridge = `cu${tag}br`;
  const made = { bridge: false, ns: [] };
  const cleanup = () => {
    for (const ns of made.ns) { try { ip('netns', 'del', ns); } catch { /* gone */ } }
    if (made.bridge) { try { ip('link', 'del', bridge); } catch { /* gone */ } }
  };
  try {
    ip('link', 'add', bridge, 'type', 'bridge');
    made.bridge = true;
    ip('addr', 'add', `${subnet}.1/24`, 'dev', bridge);
    ip('link', 'set', bridge, 'up');
    const hosts = [];
    for (let i = 0; i < n; i++) {
      const ns = `cu${tag}h${i + 1}`, outer = `cu${tag}v${i + 1}`, inner = `cu${tag}p${i + 1}`;
      const address = `${subnet}.${11 + i}`;
      ip('netns', 'add', ns);
      made.ns.push(ns);
      ip('link', 'add', outer, 'type', 'veth', 'peer', 'name', inner);
      ip('link', 'set', inner, 'netns', ns);
      ip('link', 'set', outer, 'master', bridge, 'up');
      ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', inner);
      ip('-n', ns, 'link', 'set', inner, 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      hosts.push({
        kind: 'netns', ns, address,
        wrap: (argv) => ['ip', 'netns', 'exec', ns, ...argv],
        // Runs a command in the host's namespace (ss, to see its ports).
        run: (argv) => execFileSync('ip', ['netns', 'exec', ns, ...argv], { encoding: 'utf8' }),
        disconnect: () => ip('link', 'set', outer, 'down'),
        reconnect: () => ip('link', 'set', outer, 'up'),
      });
    }
    return { kind: 'netns', cpAddress: `${subnet}.1`, hosts, cleanup };
  } catch (e) {
    cleanup();
    throw e;
  }
}

function loopbackHosts(n) {
  const subnet = `127.77.${1 + Math.floor(Math.random() * 250)}`;
  const hosts = [];
  for (let i = 0; i < n; i++) {
    hosts.push({
      kind: 'loopback', address: `${subnet}.${11 + i}`,
      wrap: (argv) => argv,
      run: (argv) => execFileSync(argv[0], argv.slice(1), { encoding: 'utf8' }),
      disconnect: (agent) => agent.proc.kill('SIGSTOP'),
      reconnect: (agent) => agent.proc.kill('SIGCONT'),
    });
  }
  return { kind: 'loopback', cpAddress: '127.0.0.1', hosts, cleanup: () => {} };
}

export function makeTestHosts(n) {
  if (process.env.CUMULUS_TEST_HOSTS !== 'loopback' && netnsWorks()) return netnsHosts(n);
  return loopbackHosts(n);
}
