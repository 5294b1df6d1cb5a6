// bench/snapshot.mjs: what a snapshot costs against how much the VM has
// written, measured in one run on two tiny-guest VMs whose disks hold
// 40 MiB and 4 GiB of written data (qemu-io writes it into each overlay
// while the VM is stopped; then the VM runs again).  Run by
// bench/run-snapshot-bench; figures are printed, never asserted.
//
// For each VM, ROUNDS (default 5) snapshots of the running VM:
//   api      POST /v1/vms/{id}/snapshots until its operation succeeded
//            (order pushed, the host's QMP pause/snapshot/resume, report)
//   qemu-img the same internal-snapshot code on the stopped disk, alone
// The ratio 4 GiB / 40 MiB of each median is the figure that matters.
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { startControlPlane } from '../tests/integration/lib/controlplane.mjs';
import { Agent, until } from '../tests/integration/lib/agent.mjs';
import { tinyImage } from '../tests/integration/lib/tiny_image.mjs';
import { makeKey } from '../tests/integration/lib/keys.mjs';

const ROUNDS = Number(process.env.ROUNDS ?? 5);
const SIZES = [['40 MiB', 40], ['4 GiB', 4096]];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x) => x.toFixed(1);

const cp = await startControlPlane();
const agent = await new Agent(cp).start();
try {
  await until('the host to join', async () => (await cp.get('/v1/hosts')).body.hosts.find((h) => h.state === 'up'));
  await cp.post('/v1/images/import', { manifest: join(tinyImage('amd64').dir, 'manifest.json') });
  await cp.post('/v1/sizes', { name: 'bench-8g', vcpus: 1, memory_mib: 128, disk_gib: 8 });
  await cp.post('/v1/ssh-keys', { name: 'k', public_key: makeKey().publicKey });
  const ok = async (op) => {
    const done = await cp.finished(op, 600);
    if (done.status !== 'succeeded') throw new Error(JSON.stringify(done));
  };
  const results = [];
  for (const [label, mib] of SIZES) {
    const name = `bench-${mib}`;
    const c = await cp.post('/v1/vms', { name, size: 'bench-8g', image: 'tiny-amd64', ssh_keys: ['k'] });
    await ok(c.body.operation);
    const id = c.body.vm.id;
    await ok((await cp.post(`/v1/vms/${id}/actions`, { type: 'power_off' })).body.operation);
    const disk = join(agent.vmDir(id), 'disk.qcow2');
    for (let off = 0; off < mib; off += 1024) {
      const len = Math.min(1024, mib - off);
      execFileSync('qemu-io', ['-f', 'qcow2', '-c', `write -P 0x5a ${off}M ${len}M`, disk]);
    }
    const written = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', disk], { encoding: 'utf8' }))['actual-size'];
    const img = [];
    for (let i = 0; i < ROUNDS; i++) {
      const t0 = performance.now();
      execFileSync('qemu-img', ['snapshot', '-c', `bench-${i}`, disk]);
      img.push(performance.now() - t0);
      execFileSync('qemu-img', ['snapshot', '-d', `bench-${i}`, disk]);
    }
    await ok((await cp.post(`/v1/vms/${id}/actions`, { type: 'start' })).body.operation);
    const api = [];
    for (let i = 0; i < ROUNDS; i++) {
      const t0 = performance.now();
      const r = await cp.post(`/v1/vms/${id}/snapshots`, { name: `s${i}` });
      await ok(r.body.operation);
      api.push(performance.now() - t0);
    }
    results.push({ label, written, api: median(api), img: median(img) });
    console.log(`${label}: overlay holds ${(written / 2 ** 20).toFixed(0)} MiB; snapshot median: api ${ms(median(api))} ms, qemu-img ${ms(median(img))} ms (${ROUNDS} rounds)`);
  }
  const [small, big] = results;
  console.log('\n| written | overlay on disk | API snapshot of the running VM (median) | qemu-img snapshot -c (median) |');
  console.log('|---|---|---|---|');
  for (const r of results) console.log(`| ${r.label} | ${(r.written / 2 ** 20).toFixed(0)} MiB | ${ms(r.api)} ms | ${ms(r.img)} ms |`);
  console.log(`| ratio 4 GiB / 40 MiB | | ${(big.api / small.api).toFixed(2)} | ${(big.img / small.img).toFixed(2)} |`);
} finally {
  await agent.cleanup();
  await cp.cleanup();
}
