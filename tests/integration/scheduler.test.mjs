// Placement: no host up fails at once; spread and pack; a pinned VM goes
// where pinned or is refused saying why; an image's architecture decides
// (native hosts first, emulating ones flagged, others never); drained hosts
// take nothing new; 50 concurrent creates against room for 20 place 20.
// Hosts are joined through the API without agents (see joinHost): this is
// about the control plane's decisions, not about booting.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startControlPlane } from './lib/controlplane.mjs';
import { makeKey } from './lib/keys.mjs';

const cps = [];
after(async () => { for (const cp of cps) await cp.cleanup(); });

async function controlPlane(...extra) {
  const cp = await startControlPlane({ extraArgs: ['--host-timeout', '3600', ...extra] });
  cps.push(cp);
  assert.equal((await cp.post('/v1/ssh-keys', { name: 'k', public_key: makeKey().publicKey })).status, 201);
  return cp;
}

const vm = (name, extra = {}) => ({ name, size: 's-1vcpu-1gb', image: 'debian-12-amd64', ssh_keys: ['k'], ...extra });
const GiB = 1024;

test('with no host up a create fails at once, naming why, and leaves nothing', async () => {
  const cp = await controlPlane();
  const r = await cp.post('/v1/vms', vm('lonely'));
  assert.equal(r.status, 409, JSON.stringify(r.body));
  assert.equal(r.body.error.code, 'no_capacity');
  assert.match(r.body.error.message, /no host is up/);
  assert.equal((await cp.get('/v1/vms')).body.vms.length, 0);
  assert.equal((await cp.get('/v1/operations')).body.operations.length, 0);
});

test('spread puts each VM on the host with the most memory left; pack fills the fullest first', async () => {
  const spread = await controlPlane();
  await spread.joinHost({ name: 'big', memory_mib: 8 * GiB });
  await spread.joinHost({ name: 'small', memory_mib: 4 * GiB });
  const placed = [];
  for (let i = 0; i < 6; i++) placed.push((await spread.post('/v1/vms', vm(`s${i}`))).body.vm.host);
  // big 8 -> 7 -> 6 -> 5 -> 4, tie with small (the first host wins), then small.
  assert.deepEqual(placed, ['big', 'big', 'big', 'big', 'big', 'small']);

  const pack = await controlPlane('--placement', 'pack');
  await pack.joinHost({ name: 'big', memory_mib: 8 * GiB });
  await pack.joinHost({ name: 'small', memory_mib: 2 * GiB });
  const packed = [];
  for (let i = 0; i < 4; i++) packed.push((await pack.post('/v1/vms', vm(`p${i}`))).body.vm.host);
  assert.deepEqual(packed, ['small', 'small', 'big', 'big']);
  const full = await pack.post('/v1/vms', vm('p-big', { size: 's-4vcpu-8gb' }));
  assert.equal(full.status, 409, 'nothing has 8 GiB left');
  assert.match(full.body.error.message, /host 'big' has \d+ vCPUs, 6144 MiB/);
  assert.match(full.body.error.message, /host 'small' has \d+ vCPUs, 0 MiB/);
});

test('a pinned VM lands where pinned, or is refused saying why', async () => {
  const cp = await controlPlane();
  await cp.joinHost({ name: 'roomy', memory_mib: 64 * GiB });
  await cp.joinHost({ name: 'tight', memory_mib: 1 * GiB });
  const pinned = await cp.post('/v1/vms', vm('pinned', { host: 'tight' }));
  assert.equal(pinned.status, 202, JSON.stringify(pinned.body));
  assert.equal(pinned.body.vm.host, 'tight');
  const full = await cp.post('/v1/vms', vm('pinned-2', { host: 'tight' }));
  assert.equal(full.status, 409);
  assert.equal(full.body.error.field, 'host');
  assert.match(full.body.error.message, /host 'tight' has \d+ vCPUs, 0 MiB/);
  assert.doesNotMatch(full.body.error.message, /roomy/, 'only the pinned host is considered');
  const unknown = await cp.post('/v1/vms', vm('pinned-3', { host: 'nowhere' }));
  assert.equal(unknown.status, 400);
  assert.equal(unknown.body.error.field, 'host');
  const byId = await cp.post('/v1/vms', vm('pinned-4', { host: (await cp.get('/v1/hosts/roomy')).body.id }));
  assert.equal(byId.body.vm.host, 'roomy');
  // A VM being deleted gives its room back at once.
  assert.equal((await cp.del('/v1/vms/pinned')).status, 202);
  const again = await cp.post('/v1/vms', vm('pinned-5', { host: 'tight' }));
  assert.equal(again.status, 202, JSON.stringify(again.body));
});

test('an image runs where its architecture runs: natively first, emulated when it must, never elsewhere', async () => {
  const cp = await controlPlane();
  await cp.joinHost({ name: 'x86-plain', memory_mib: 64 * GiB });
  await cp.joinHost({ name: 'x86-emu', memory_mib: 32 * GiB, emulated_architectures: ['aarch64'] });
  await cp.joinHost({ name: 'arm', architecture: 'aarch64', memory_mib: 2 * GiB });
  const arm = vm('arm-1', { image: 'debian-12-arm64' });
  const native = await cp.post('/v1/vms', arm);
  assert.equal(native.body.vm.host, 'arm', 'the aarch64 host, though it has the least room');
  assert.equal(native.body.vm.emulated, false);
  const emulated = await cp.post('/v1/vms', { ...arm, name: 'arm-2', size: 's-2vcpu-4gb' });
  assert.equal(emulated.body.vm.host, 'x86-emu', 'no room on arm: the host that emulates it');
  assert.equal(emulated.body.vm.emulated, true);
  const hosts = (await cp.get('/v1/hosts')).body.hosts;
  assert.deepEqual(hosts.find((h) => h.name === 'x86-emu').emulated_architectures, ['aarch64']);

  // Without an emulating host, an aarch64 VM never lands on x86_64.
  const strict = await controlPlane();
  await strict.joinHost({ name: 'x86-only', memory_mib: 64 * GiB });
  const refused = await strict.post('/v1/vms', arm);
  assert.equal(refused.status, 409);
  assert.match(refused.body.error.message, /host 'x86-only' runs x86_64 and cannot emulate aarch64/);
  const pinnedAway = await cp.post('/v1/vms', { ...arm, name: 'arm-3', host: 'x86-plain' });
  assert.equal(pinnedAway.status, 409);
  assert.match(pinnedAway.body.error.message, /cannot emulate aarch64/);
});

test('a drained host takes no new VM until it is returned; its VMs stay', async () => {
  const cp = await controlPlane();
  await cp.joinHost({ name: 'one', memory_mib: 64 * GiB });
  await cp.joinHost({ name: 'two', memory_mib: 8 * GiB });
  assert.equal((await cp.post('/v1/vms', vm('before'))).body.vm.host, 'one');
  const drained = await cp.post('/v1/hosts/one/actions', { type: 'drain' });
  assert.equal(drained.status, 200, JSON.stringify(drained.body));
  assert.equal(drained.body.drained, true);
  assert.equal((await cp.post('/v1/hosts/one/actions', { type: 'drain' })).status, 200, 'idempotent');
  assert.equal((await cp.post('/v1/vms', vm('during'))).body.vm.host, 'two');
  assert.equal((await cp.get('/v1/vms/before')).body.host, 'one', 'its VMs stay');
  const pinned = await cp.post('/v1/vms', vm('pinned', { host: 'one' }));
  assert.equal(pinned.status, 409);
  assert.match(pinned.body.error.message, /host 'one' is drained/);
  assert.equal((await cp.post('/v1/hosts/one/actions', { type: 'return' })).body.drained, false);
  assert.equal((await cp.post('/v1/vms', vm('after'))).body.vm.host, 'one');

  assert.equal((await cp.post('/v1/hosts/nope/actions', { type: 'drain' })).status, 404);
  const bad = await cp.post('/v1/hosts/one/actions', { type: 'explode' });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.field, 'type');
  assert.equal((await cp.get('/v1/hosts/one')).body.drained, false, 'a refused action changes nothing');
});

test('50 concurrent creates against room for 20: exactly 20 are placed', async () => {
  const cp = await controlPlane();
  await cp.joinHost({ name: 'h1', memory_mib: 12 * GiB });
  await cp.joinHost({ name: 'h2', memory_mib: 8 * GiB });
  const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => cp.post('/v1/vms', vm(`c${i}`))));
  const ok = answers.filter((a) => a.status === 202);
  const refused = answers.filter((a) => a.status !== 202);
  assert.equal(ok.length, 20);
  assert.ok(refused.every((a) => a.status === 409 && a.body.error.code === 'no_capacity'));
  const vms = (await cp.get('/v1/vms?limit=1000')).body.vms;
  assert.equal(vms.length, 20);
  assert.equal(vms.filter((v) => v.host === 'h1').length, 12);
  assert.equal(vms.filter((v) => v.host === 'h2').length, 8);
});
