// bench/converge.mjs: how long the whole system takes to converge after the
// control plane restarts, with VMS VMs (default 200) on 4 real agents, each
// on a test host of its own, running the tiny test guest.  Run by
// bench/run-converge-bench, which builds first; figures are printed, never
// asserted.
//
// Each tiny guest's QEMU holds about 235 MB under TCG, so on a 24 GiB
// machine RUNNING of them (default 50) keep running and the others are
// stopped once booted: stopped VMs still have their disks on their hosts
// and are in every report, as in a real cloud.
//
// Cases, each measured in the same run:
//   restart, idle        SIGKILL + restart with everything converged: until
//                        the API answers, every host has reported since, and
//                        every VM is as desired.
//   stop R/2, no kill    the peer: stop actions for half the running VMs,
//                        until every VM is as desired.
//   stop R/2, killed     the same, the control plane SIGKILLed right after
//                        acknowledging them, and restarted.
//   start R/2, no kill   and back, the peer: until all run with guests ready.
//   start R/2, killed    the same with a SIGKILL after the acknowledgements.
import { performance } from 'node:perf_hooks';
import { until } from '../tests/integration/lib/agent.mjs';
import { startCluster } from '../tests/integration/lib/cluster.mjs';

const N = Number(process.env.VMS ?? 200);
const RUNNING = Math.min(N, Number(process.env.RUNNING ?? 50));
const HOSTS = 4;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const s = (ms) => (ms / 1000).toFixed(2);

async function allVms(cp) {
  return (await cp.get('/v1/vms?limit=1000')).body.vms;
}

async function restart(cp) {
  await cp.stop('SIGKILL');
  const t0 = performance.now();
  await cp.start();
  return t0;
}

// Times from t0 until: the API answers, every host reported after t0, every
// VM is as desired (state and, for running VMs, a ready guest).
async function converged(cp, t0, since) {
  const health = performance.now();
  await until('every host to report', async () => {
    const hosts = (await cp.get('/v1/hosts')).body.hosts;
    return hosts.every((h) => h.state === 'up' && Date.parse(h.last_heartbeat) > since);
  }, 600000, 100);
  const hosts = performance.now();
  await until('every VM as desired', async () => (await allVms(cp)).every((v) =>
    v.state === v.desired_state && (v.state !== 'running' || v.guest_state === 'ready')), 1800000, 200);
  return { health: health - t0, hosts: hosts - t0, vms: performance.now() - t0 };
}

async function actions(cp, names, type) {
  const ops = [];
  for (const n of names) {
    const r = await cp.post(`/v1/vms/${n}/actions`, { type });
    if (r.status !== 202) throw new Error(`${type} ${n}: ${r.status} ${JSON.stringify(r.body)}`);
    ops.push(r.body.operation);
  }
  return ops;
}

async function allSucceeded(cp, ops) {
  for (const op of ops) {
    const done = await cp.finished(op, 1800);
    if (done.status !== 'succeeded') throw new Error(`operation ${op.id}: ${JSON.stringify(done)}`);
  }
}

async function main() {
  const c = await startCluster(Array.from({ length: HOSTS }, (_, i) => ({ name: `b${i + 1}` })), { cpArgs: ['--cpu-allocation-ratio', '32'] });
  const cp = c.cp;
  const rows = [];
  // Interrupted: stop every QEMU and agent and remove the namespaces anyway.
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => c.cleanup().finally(() => process.exit(1)));
  try {
    const t0 = performance.now();
    for (let i = 0; i < N; i += 20) {
      const ops = [];
      const batch = [];
      for (let j = i; j < Math.min(N, i + 20); j++) {
        const r = await cp.post('/v1/vms', c.vm(`bench-${j}`));
        if (r.status !== 202) throw new Error(`create bench-${j}: ${r.status} ${JSON.stringify(r.body)}`);
        ops.push(r.body.operation);
        if (j >= RUNNING) batch.push(`bench-${j}`);
      }
      await allSucceeded(cp, ops);
      await allSucceeded(cp, await actions(cp, batch, 'stop'));
      process.stderr.write(`\r${Math.min(N, i + 20)}/${N} VMs made, ${s(performance.now() - t0)} s`);
    }
    process.stderr.write('\n');
    rows.push({ case: `create ${N} VMs in batches of 20 (guests ready), stop ${N - RUNNING}`, vms: performance.now() - t0 });

    const since = Date.now();
    rows.push({ case: 'restart, idle', ...(await converged(cp, await restart(cp), since)) });

    const half = Array.from({ length: RUNNING / 2 }, (_, i) => `bench-${i}`);
    for (const type of ['stop', 'start']) {
      let t = performance.now();
      let ops = await actions(cp, half, type);
      rows.push({ case: `${type} ${half.length}, no kill (peer)`, ...(await converged(cp, t, 0)), health: 0, hosts: 0 });
      await allSucceeded(cp, ops);
      await allSucceeded(cp, await actions(cp, half, type === 'stop' ? 'start' : 'stop'));
      t = performance.now();
      ops = await actions(cp, half, type);
      const since2 = Date.now();
      await restart(cp);
      rows.push({ case: `${type} ${half.length}, killed after the acks`, ...(await converged(cp, t, since2)) });
      await allSucceeded(cp, ops);
    }
  } finally {
    await c.cleanup();
  }
  console.log(`\nconvergence after a control plane restart: ${N} VMs (${RUNNING} running) on ${HOSTS} hosts (${c.net.kind}), tiny guest, TCG`);
  console.log('| case | API answers (s) | every host reported (s) | every VM as desired (s) |');
  console.log('|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.case} | ${r.health ? s(r.health) : '-'} | ${r.hosts ? s(r.hosts) : '-'} | ${s(r.vms)} |`);
}

main().catch((e) => { console.error(e); process.exit(1); });
