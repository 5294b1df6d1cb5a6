// Throwaway runs without a guest: every bad field of POST /v1/runs is
// refused with a 400 naming it and leaves nothing behind (no run, no VM,
// no directory); a good one answers 202 with the run, its VM (named after
// the run, run_id set, the run's own key installed) and a "run" operation;
// a cancel asks for the VM's deletion; a control plane restart mid-run
// picks the run up to destroy its VM. A joined host without an agent
// takes the VMs, so nothing boots (tests/e2e/runs.test.mjs boots them).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startControlPlane } from './lib/controlplane.mjs';
import { makeKey } from './lib/keys.mjs';

let cp;
const key = makeKey('ed25519', 'alice@laptop');
before(async () => {
  cp = await startControlPlane({ extraArgs: ['--host-timeout', '3600'] });
  await cp.joinHost();
  assert.equal((await cp.post('/v1/ssh-keys', { name: 'alice', public_key: key.publicKey })).status, 201);
});
after(async () => { await cp?.cleanup(); });

const good = (extra = {}) => ({ image: 'debian-12-amd64', size: 's-1vcpu-1gb', command: 'true', ...extra });
const runsDir = () => join(cp.dataDir, 'runs');
const counts = async () => ({
  runs: (await cp.get('/v1/runs?limit=1000')).body.runs.length,
  vms: (await cp.get('/v1/vms?limit=1000')).body.vms.length,
  dirs: existsSync(runsDir()) ? readdirSync(runsDir()).length : 0,
});

async function until(what, fn, ms = 20000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('every bad field is refused with a 400 naming it, and nothing is left behind', async () => {
  const before = await counts();
  const cases = [
    [{ size: 's-1vcpu-1gb', command: 'true' }, 'image', /required/],
    [good({ image: 'no-such-image' }), 'image', /no image 'no-such-image'/],
    [good({ size: 's-99vcpu' }), 'size', /no size 's-99vcpu'/],
    [{ image: 'debian-12-amd64', size: 's-1vcpu-1gb' }, 'command', /required/],
    [good({ command: '' }), 'command', /1 to 65536 bytes/],
    [good({ command: '   \n' }), 'command', /not blank/],
    [good({ command: 42 }), 'command', /must be a string/],
    [good({ timeout: 0 }), 'timeout', /from 1 to 86400/],
    [good({ timeout: 86401 }), 'timeout', /from 1 to 86400/],
    [good({ timeout: '60' }), 'timeout', /must be an integer/],
    [good({ ssh_keys: ['nobody'] }), 'ssh_keys', /no ssh_keys 'nobody'/],
    [good({ files: {} }), 'files', /must be an array/],
    [good({ files: ['x'] }), 'files[0]', /must be an object/],
    [good({ files: [{ content: 'x' }] }), 'files[0].path', /required/],
    [good({ files: [{ path: '../etc/passwd', content: 'x' }] }), 'files[0].path', /not a usable path/],
    [good({ files: [{ path: 'ok.txt', content: 'x' }, { path: "it's.txt", content: 'x' }] }), 'files[1].path', /not a usable path/],
    [good({ files: [{ path: 'a b', content: 'x' }] }), 'files[0].path', /not a usable path/],
    [good({ files: [{ path: 'dir/', content: 'x' }] }), 'files[0].path', /not a usable path/],
    [good({ files: [{ path: 'a//b', content: 'x' }] }), 'files[0].path', /not a usable path/],
    [good({ files: [{ path: '', content: 'x' }] }), 'files[0].path', /not a usable path/],
    [good({ files: [{ path: 'x', content: 'x' }, { path: 'x', content: 'y' }] }), 'files[1].path', /also files\[0\]/],
    [good({ files: [{ path: 'x', content: 'x', mode: '0999' }] }), 'files[0].mode', /octal/],
    [good({ files: [{ path: 'x', content: 'x', mode: '755; rm' }] }), 'files[0].mode', /octal/],
    [good({ files: [{ path: 'x' }] }), 'files[0].content', /exactly one/],
    [good({ files: [{ path: 'x', content: 'a', content_base64: 'YQ==' }] }), 'files[0].content', /exactly one/],
    [good({ files: [{ path: 'x', content_base64: 'not base64!' }] }), 'files[0].content_base64', /not valid base64/],
    [good({ files: [{ path: 'x', content: 'x', owner: 'root' }] }), 'files[0].owner', /unknown field/],
    [good({ name: 'r1' }), 'name', /unknown field/],
  ];
  for (const [body, field, message] of cases) {
    const r = await cp.post('/v1/runs', body);
    assert.equal(r.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error.field, field, `${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
    assert.match(r.body.error.message, message, JSON.stringify(body));
  }
  const notJson = await cp.post('/v1/runs', 'nope', { raw: true });
  assert.equal(notJson.status, 400);
  assert.deepEqual(await counts(), before, 'no run, VM or run directory was made');
});

test('a run is accepted: 202 with the run, its VM and a run operation; listed, got, with empty output', async () => {
  const files = [{ path: 'suite/test.sh', content: 'echo hi\n', mode: '0755' }, { path: '/tmp/data.bin', content_base64: 'AAEC' }];
  const r = await cp.post('/v1/runs', good({ files, ssh_keys: ['alice'], timeout: 60, command: 'sh suite/test.sh' }));
  assert.equal(r.status, 202, JSON.stringify(r.body));
  const { run, vm, operation: op } = r.body;
  assert.match(run.id, /^run-[0-9a-f]{16}$/);
  assert.ok(['pending', 'booting'].includes(run.state), run.state);
  assert.deepEqual([run.image, run.size, run.timeout, run.command, run.exit_code, run.error, run.output_bytes],
    ['debian-12-amd64', 's-1vcpu-1gb', 60, 'sh suite/test.sh', null, null, 0]);
  assert.deepEqual(run.files, [{ path: 'suite/test.sh', mode: '0755', bytes: 8 }, { path: '/tmp/data.bin', mode: '0644', bytes: 3 }]);
  assert.deepEqual(run.ssh_keys, ['alice']);
  assert.equal(run.vm_id, vm.id);
  assert.equal(run.operation_id, op.id);
  assert.equal(vm.name, run.id, 'the VM is named after its run');
  assert.equal(vm.run_id, run.id);
  assert.equal(vm.autostart, 'never');
  assert.deepEqual(vm.ssh_keys.map((k) => k.name).sort(), ['alice', run.id].sort(), 'the run key is installed beside alice');
  assert.match(vm.ssh_keys.find((k) => k.name === run.id).public_key, /^ssh-ed25519 \S+ cumulus-run-/);
  assert.equal(op.type, 'run');
  assert.deepEqual(op.target, { type: 'run', id: run.id });
  assert.equal(r.headers.get('location'), `/v1/operations/${op.id}`);

  assert.equal((await cp.get(`/v1/runs/${run.id}`)).body.id, run.id);
  assert.ok((await cp.get('/v1/runs')).body.runs.some((x) => x.id === run.id));
  assert.ok((await cp.get('/v1/runs?state=booting')).body.runs.some((x) => x.id === run.id));
  assert.equal((await cp.get('/v1/runs?state=nope')).status, 400);
  const out = await cp.get(`/v1/runs/${run.id}/output`);
  assert.equal(out.status, 200);
  assert.match(out.headers.get('content-type'), /^text\/plain/);
  assert.equal(out.body, null, 'no output yet');
  assert.equal((await cp.get(`/v1/runs/${run.id}/output?follow=maybe`)).status, 400);
  assert.equal((await cp.get('/v1/runs/run-0000000000000000')).status, 404);
  assert.equal((await cp.get('/v1/runs/run-0000000000000000/output')).status, 404);
  assert.equal((await cp.del('/v1/runs/run-0000000000000000')).status, 404);

  const dir = join(runsDir(), run.id);
  assert.ok(existsSync(join(dir, 'id_ed25519')) && existsSync(join(dir, 'files', '1')), 'key and files are kept for the worker');
  const ev = (await cp.get(`/v1/events?target=${run.id}`)).body.events.map((e) => e.type);
  assert.ok(ev.includes('run.created'), ev.join(' '));
  assert.ok(ev.includes('run.state_changed'), ev.join(' '));

  // Cancel: the worker asks for the VM's deletion; with no agent here the
  // run waits in 'destroying' for the host, its outcome already known.
  const del = await cp.del(`/v1/runs/${run.id}`);
  assert.equal(del.status, 202, JSON.stringify(del.body));
  assert.equal(del.body.operation.id, op.id);
  const cancelled = await until('the cancelled run to be destroying', async () => {
    const g = (await cp.get(`/v1/runs/${run.id}`)).body;
    return g.state === 'destroying' ? g : null;
  });
  assert.equal(cancelled.error.code, 'cancelled', JSON.stringify(cancelled));
  assert.equal((await cp.get(`/v1/vms/${vm.id}`)).body.desired_state, 'deleted');
  const progress = (await cp.get(`/v1/operations/${op.id}`)).body;
  assert.equal(progress.status, 'running');
  assert.match(progress.message, /destroying the VM/);
});

test('a control plane restart mid-run: the run is picked up, interrupted, and its VM deleted', async () => {
  const r = await cp.post('/v1/runs', good());
  assert.equal(r.status, 202, JSON.stringify(r.body));
  const { run, vm } = r.body;
  await until('the run to boot', async () => (await cp.get(`/v1/runs/${run.id}`)).body.state === 'booting');
  const stopped = await cp.stop();
  assert.equal(stopped.code, 0, `clean exit:\n${cp.log.slice(-4000)}`);
  await cp.start();
  const g = (await cp.get(`/v1/runs/${run.id}`)).body;
  assert.equal(g.state, 'destroying', JSON.stringify(g));
  assert.equal(g.error.code, 'interrupted', JSON.stringify(g));
  assert.equal((await cp.get(`/v1/vms/${vm.id}`)).body.desired_state, 'deleted');
});

test('a run no host can take is refused with 409 no_capacity, leaving nothing', async () => {
  const before = await counts();
  const r = await cp.post('/v1/runs', good({ image: 'debian-12-arm64' }));
  assert.equal(r.status, 409, JSON.stringify(r.body));
  assert.equal(r.body.error.code, 'no_capacity');
  assert.deepEqual(await counts(), before);
});
