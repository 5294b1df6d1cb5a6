// End to end: throwaway runs (POST /v1/runs) on the real local Debian
// image. Each run boots its own VM, copies a small Python unittest suite
// in over SSH, runs it, and destroys the VM: one suite passes (exit 0, the
// runner's summary in the output), one fails (exit 1, the failure in the
// output, the run failed with command_failed). A third one outlives its
// timeout: killed, failed with run_timeout, and meanwhile the key it was
// given lets a person log in to look. Whatever the end, nothing is left:
// no VM in the API, no VM directory on the agent, no QEMU, no run key.
//
// The runs boot at the same time (about a minute each under TCG on two
// cores); the output of the failing one is followed live while it runs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Cloud, debianImage, gone, processesUsing, until } from './lib/cloud.mjs';

const cloud = new Cloud();
let passing, failing, slow; // the create answers ({ run, vm, operation })
let passingOp, failingOp, slowOp; // their operations, ended
let followed; // the failing run's output, as streamed with ?follow=true
let peeked; // what a person logged in to the slow run's VM saw while it ran

const CALC = `def add(a, b):
    return a + b


def div(a, b):
    return a / b
`;
const BROKEN_CALC = CALC.replace('return a + b', 'return a - b');
const TESTS = `import unittest

from calc import add, div


class CalcTest(unittest.TestCase):
    def test_add(self):
        self.assertEqual(add(2, 3), 5)

    def test_div(self):
        self.assertEqual(div(6, 3), 2)

    def test_div_by_zero(self):
        with self.assertRaises(ZeroDivisionError):
            div(1, 0)


if __name__ == "__main__":
    unittest.main()
`;
const RUNNER = `#!/bin/sh
# Runs the suite where the run copied it; its exit status is the run's.
set -e
cd "$(dirname "$0")/suite"
echo "running on $(hostname) as $(whoami)"
exec python3 -m unittest -v
`;

before(() => cloud.explain(async () => {
  const image = debianImage('amd64');
  await cloud.start({ manifest: join(image.dir, 'manifest.json') });
  const start = async (body) => {
    const r = await cloud.cp.post('/v1/runs', { image: cloud.image.name, size: 's-1vcpu-1gb', ...body });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    return r.body;
  };
  passing = await start({
    ssh_keys: ['tester'], // a person may log in to look while it runs
    files: [
      { path: 'ci/run-tests', content: RUNNER, mode: '0755' },
      { path: 'ci/suite/calc.py', content: CALC },
      { path: 'ci/suite/test_calc.py', content_base64: Buffer.from(TESTS).toString('base64') },
    ],
    command: 'ci/run-tests',
    timeout: 600,
  });
  failing = await start({
    files: [
      { path: '/tmp/suite/calc.py', content: BROKEN_CALC },
      { path: '/tmp/suite/test_calc.py', content: TESTS },
    ],
    command: 'cd /tmp/suite && python3 -m unittest -v',
    timeout: 600,
  });
  slow = await start({ ssh_keys: ['tester'], command: 'echo started; sleep 600; echo never', timeout: 30 });
  cloud.note(`started ${passing.run.id} (passing), ${failing.run.id} (failing), ${slow.run.id} (slow)`);
  followed = followOutput(failing.run.id);
  followed.catch(() => {}); // awaited by the test; a failure is reported there
  passingOp = cloud.finish(passing.operation, 900);
  failingOp = cloud.finish(failing.operation, 900);
  passingOp.then(() => cloud.note('passing run ended'), () => {});
  failingOp.then(() => cloud.note('failing run ended'), () => {});
  slowOp = cloud.finish(slow.operation, 900);
  slowOp.then(() => cloud.note('slow run ended'), () => {});
  peeked = peekWhileRunning(slow);
  peeked.catch(() => {}); // awaited by the test
}));

after(async () => {
  for (const r of [passing, failing, slow]) {
    if (r) await cloud.cp.del(`/v1/runs/${r.run.id}`).catch(() => {});
  }
  await cloud.cleanup();
});

// GET /v1/runs/{id}/output?follow=true from the start: resolves with the
// whole body once the server ends the stream (when the run has ended).
async function followOutput(id) {
  const res = await fetch(`${cloud.cp.base}/v1/runs/${id}/output?follow=true`, {
    headers: { Authorization: `Bearer ${cloud.cp.token}` },
  });
  assert.equal(res.status, 200);
  return res.text();
}

// What must be true of a run that ended: its VM and everything of it gone.
async function assertNothingLeft({ run, vm }) {
  assert.equal((await cloud.cp.get(`/v1/vms/${vm.id}`)).status, 404, 'the VM is gone from the API');
  const vms = (await cloud.cp.get('/v1/vms?limit=1000')).body.vms;
  assert.ok(!vms.some((v) => v.run_id === run.id || v.id === vm.id), JSON.stringify(vms));
  const dir = cloud.agent.vmDir(vm.id);
  assert.ok(gone(dir), `the agent removed ${dir} (disk overlay, seed, sockets)`);
  assert.deepEqual(processesUsing(dir), [], 'no QEMU runs for it');
  const runDir = join(cloud.cp.dataDir, 'runs', run.id);
  assert.deepEqual(readdirSync(runDir), ['output.log'], 'the run key and the copied files are removed');
}

// The progress messages of a run's operation, in order, from its events.
async function progressOf(run) {
  const events = (await cloud.cp.get(`/v1/events?target=${run.id}&type=operation.&limit=1000`)).body.events;
  return events.map((e) => e.data.message).filter(Boolean);
}

test('a run copies a passing unittest suite in, runs it: exit 0, the summary in its output, nothing left', () => cloud.explain(async () => {
  assert.equal(passing.vm.name, passing.run.id);
  assert.equal(passing.vm.run_id, passing.run.id);
  assert.equal(passing.vm.boot, 'kernel', 'runs boot the image kernel directly when it has one');
  assert.deepEqual(passing.vm.ssh_keys.map((k) => k.name).sort(), [passing.run.id, 'tester'].sort());

  const op = await passingOp;
  const run = (await cloud.cp.get(`/v1/runs/${passing.run.id}`)).body;
  cloud.note(`passing: ${JSON.stringify({ state: run.state, exit_code: run.exit_code, error: run.error })}`);
  assert.equal(op.status, 'succeeded', JSON.stringify(op));
  assert.equal(run.state, 'succeeded', JSON.stringify(run));
  assert.equal(run.exit_code, 0);
  assert.equal(run.error, null);
  assert.ok(run.started_at && run.finished_at && run.finished_at >= run.started_at, JSON.stringify(run));

  const out = (await cloud.cp.get(`/v1/runs/${run.id}/output`)).body;
  assert.match(out, new RegExp(`running on ${run.id} as debian`), out);
  assert.match(out, /test_add \(test_calc\.CalcTest(\.test_add)?\) \.\.\. ok/, out);
  assert.match(out, /Ran 3 tests in/, out);
  assert.match(out, /\nOK\n/, out);
  assert.equal(run.output_bytes, Buffer.byteLength(out));

  const steps = await progressOf(run);
  for (const m of ['booting the VM', 'waiting for SSH', 'copying 3 files', 'running the command', 'destroying the VM']) {
    assert.ok(steps.includes(m), `progress '${m}' in ${JSON.stringify(steps)}`);
  }
  await assertNothingLeft(passing);
}));

test('a run whose test suite fails: exit code 1 and the failure reported, the run failed, nothing left', () => cloud.explain(async () => {
  const op = await failingOp;
  const run = (await cloud.cp.get(`/v1/runs/${failing.run.id}`)).body;
  cloud.note(`failing: ${JSON.stringify({ state: run.state, exit_code: run.exit_code, error: run.error })}`);
  assert.equal(run.state, 'failed', JSON.stringify(run));
  assert.equal(run.exit_code, 1);
  assert.equal(run.error?.code, 'command_failed', JSON.stringify(run));
  assert.match(run.error.message, /status 1/);
  assert.equal(op.status, 'failed', JSON.stringify(op));
  assert.equal(op.error?.code, 'command_failed');

  const out = (await cloud.cp.get(`/v1/runs/${run.id}/output`)).body;
  assert.match(out, /FAIL: test_add/, out);
  assert.match(out, /AssertionError: -1 != 5/, out);
  assert.match(out, /FAILED \(failures=1\)/, out);
  assert.equal(await followed, out, 'the followed stream carried the whole output and ended with the run');
  await assertNothingLeft(failing);

  // A run that ended is forgotten on DELETE, output and all.
  assert.equal((await cloud.cp.del(`/v1/runs/${run.id}`)).status, 204);
  assert.equal((await cloud.cp.get(`/v1/runs/${run.id}`)).status, 404);
  assert.equal(existsSync(join(cloud.cp.dataDir, 'runs', run.id)), false);
}));

// As soon as the run's command has printed 'started' (so its sleep runs:
// the state turns 'running' when the control plane opens the SSH session,
// a moment before the guest's shell gets there), logs in with the tester
// key (the run's ssh_keys) and looks for it: { state, ps }.
async function peekWhileRunning({ run, vm }) {
  let seen;
  await until('the slow run to run its command', async () => {
    seen = (await cloud.cp.get(`/v1/runs/${run.id}`)).body;
    if (runEnded(seen)) return true;
    if (seen.state !== 'running') return false;
    return /^started\n/.test((await cloud.cp.get(`/v1/runs/${run.id}/output`)).body);
  }, 600000, 500);
  if (seen.state !== 'running') return { state: seen.state, ps: '' };
  const r = await cloud.ssh(await cloud.vm(vm.id), 'pgrep -af "sleep 600"', { timeoutMs: 25000 });
  return { state: seen.state, ps: r.stdout, ssh: r };
}

test('a run past its timeout: the command is killed, the run fails with run_timeout; the given key lets a person in meanwhile', () => cloud.explain(async () => {
  const peek = await peeked;
  assert.equal(peek.state, 'running', JSON.stringify(peek));
  assert.match(peek.ps, /sleep 600/, `logged in with the tester key, the command is seen running: ${JSON.stringify(peek)}`);

  const op = await slowOp;
  const run = (await cloud.cp.get(`/v1/runs/${slow.run.id}`)).body;
  cloud.note(`slow: ${JSON.stringify({ state: run.state, exit_code: run.exit_code, error: run.error })}`);
  assert.equal(run.state, 'failed', JSON.stringify(run));
  assert.equal(run.exit_code, null, 'killed: no exit code');
  assert.equal(run.error?.code, 'run_timeout', JSON.stringify(run));
  assert.match(run.error.message, /30 s/);
  assert.equal(op.error?.code, 'run_timeout', JSON.stringify(op));
  const secs = (Date.parse(run.finished_at) - Date.parse(run.started_at)) / 1000;
  assert.ok(secs >= 30 && secs < 300, `killed after its 30 s, not at the end of sleep 600 (${secs} s)`);
  const out = (await cloud.cp.get(`/v1/runs/${run.id}/output`)).body;
  assert.match(out, /^started\n/, out);
  assert.doesNotMatch(out, /never/);
  await assertNothingLeft(slow);
}));

function runEnded(run) { return ['succeeded', 'failed', 'error'].includes(run.state); }
