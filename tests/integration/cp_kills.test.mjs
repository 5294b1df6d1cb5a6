// The control plane SIGKILLed 20 times while a client streams creates and
// deletes at it, with real agents on hosts of their own running the tiny
// test guest.  Afterwards every acknowledged create exists exactly once
// (unless an acknowledged delete removed it), every acknowledged delete is
// gone, every operation has ended, and the hosts hold nothing else.  A
// request the control plane never answered may or may not have happened:
// the client cannot know, so it is not counted either way.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { until } from './lib/agent.mjs';
import { startCluster } from './lib/cluster.mjs';
import { assertConverged } from './lib/convergence.mjs';

const KILLS = 20;
let c, cp;
before(async () => {
  c = await startCluster([{ name: 'k1' }, { name: 'k2' }], { cpArgs: ['--host-timeout', '10', '--reconcile-interval', '250', '--cpu-allocation-ratio', '16'] });
  cp = c.cp;
});
after(async () => { await c?.cleanup(); });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The logs of every control plane run so far and of the agents, for a
// failure's message: a run's log is dropped when the next one starts.
const cpRuns = [];
function logs() {
  const runs = [...cpRuns, cp.log].map((l, i) => `--- control plane run ${i}\n${l.slice(-3000)}`).slice(-6);
  const agents = Object.entries(c.agents).map(([n, a]) => `--- agent ${n}\n${a.log.slice(-6000)}`);
  return [...runs, ...agents].join('\n');
}

// One request; null when the control plane was not there to answer.
async function attempt(method, path, body) {
  try {
    return await cp.request(method, path, body);
  } catch {
    return null;
  }
}

test(`${KILLS} SIGKILLs of the control plane during creates and deletes lose nothing acknowledged`, async () => {
  const acked = new Set(), deleted = new Set(), unanswered = new Set(), unansweredDeletes = new Set();
  let stop = false, kills = 0;
  const client = (async () => {
    for (let i = 0; !stop; i++) {
      const name = `stream-${i}`;
      const r = await attempt('POST', '/v1/vms', c.vm(name));
      if (r?.status === 202) acked.add(name);
      else if (r === null || r.status >= 500) unanswered.add(name);
      else assert.fail(`create ${name}: ${r.status} ${JSON.stringify(r.body)}\n${logs()}`);
      if (i % 3 === 2 && acked.size > deleted.size + 2) {
        const victim = [...acked].find((n) => !deleted.has(n));
        const d = await attempt('DELETE', `/v1/vms/${victim}`);
        if (d?.status === 202) deleted.add(victim);
        // A 404 is the answer to a retry whose first try went through unanswered.
        else if (d?.status === 404 && unansweredDeletes.has(victim)) deleted.add(victim);
        else if (d === null || d.status >= 500) unansweredDeletes.add(victim);
        else assert.fail(`delete ${victim}: ${d.status} ${JSON.stringify(d.body)}\n${logs()}`);
      }
      await sleep(500);
    }
  })();
  const killer = (async () => {
    for (; kills < KILLS; kills++) {
      await sleep(400 + Math.random() * 600);
      await cp.stop('SIGKILL');
      cpRuns.push(cp.log);
      await sleep(Math.random() * 300);
      await cp.start();
    }
    stop = true;
  })();
  await Promise.all([client, killer]);
  assert.equal(kills, KILLS);
  assert.ok(acked.size >= 5, `the client got ${acked.size} creates through`);

  // Deletes the client may retry now, for VMs it deleted without an answer.
  await until('every acknowledged delete to finish', async () => {
    const names = (await cp.get('/v1/vms?limit=1000')).body.vms.map((v) => v.name);
    return [...deleted].every((n) => !names.includes(n));
  }, 180000, 1000);
  const vms = await assertConverged(cp, c.agents, { timeoutMs: 300000 });
  const names = new Set(vms.map((v) => v.name));
  for (const n of acked) if (!deleted.has(n) && !unansweredDeletes.has(n)) assert.ok(names.has(n), `acknowledged VM ${n} exists`);
  for (const n of names) assert.ok(acked.has(n) || unanswered.has(n), `${n} exists but was never asked for`);
  // Operations in flight at a kill go on after it: each ends, with a reason.
  const ended = (o) => ['succeeded', 'failed'].includes(o.status);
  let ops;
  await until('every operation to end', async () => {
    ops = (await cp.get('/v1/operations?limit=1000')).body.operations;
    return ops.every(ended);
  }, 600000, 1000).catch(() => {
    assert.deepEqual(ops.filter((o) => !ended(o)).map((o) => `${o.type} ${o.target?.id ?? ''} ${o.status}: ${o.message}`), [], 'every operation has ended');
  });
  for (const o of ops.filter((x) => x.status === 'failed')) assert.ok(o.error?.message, `failed operation ${o.id} says why`);
  console.log(`${kills} kills: ${acked.size} creates acknowledged, ${deleted.size} deletes, ${unanswered.size} unanswered; ${vms.length} VMs at the end`);
});
