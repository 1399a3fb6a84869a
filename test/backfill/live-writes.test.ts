/**
 * The backfill as the runbook runs it, and repairs: at dual-write, while agents keep writing through memshift. The
 * live writes reach the orchestrator (through the outbox) before the history the backfill copies, or around the
 * write a repair restores, so such keys are written again whole; no live write may be lost or doubled on the way,
 * whichever lands first.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from 'vitest';
import { LegOrchestratorClient } from '../../src/services/orchestrator-client.js';
import { createTranslators } from '../support/translators.js';
import { HOLD_ACTION, OutboxTable } from '../../src/outbox/table.js';
import { ReconcileRuns } from '../../src/reconcile/runs.js';
import { reconcileService } from '../../src/reconcile/sides.js';
import { send } from '../sim/helpers.js';
import { runBackfill } from '../support/backfill.js';
import { holdKeys, reconcileBesideAgents, useLiveStack } from '../support/live-stack.js';
import { ReqClient } from '../support/zmq-client.js';
import { startChild } from '../../src/tools/bench/processes.js';

const SERVICE = 'jarvis-memory';
const USERS = 16;
const HISTORY = 8;

const live = useLiveStack(SERVICE, async (sims) => {
  // The history from before the migration: on legacy only.
  for (let u = 0; u < USERS; u++)
    for (let k = 0; k < HISTORY; k++) await send(sims.endpoints[SERVICE], { action: 'add_memory', user_id: `u${u}`, memory: `old ${u}/${k}` });
});

const USER_IDS = Array.from({ length: USERS }, (_, u) => `u${u}`);

/** Each agent owns one user and adds a memory every 100 ms through memshift until stopped; returns what was acknowledged. */
function liveWrites(label = 'live', users = USER_IDS): { stop(): Promise<Map<string, string[]>> } {
  let stopping = false;
  const acked = new Map<string, string[]>();
  const refused: unknown[] = [];
  const agents = users.map(async (user, u) => {
    acked.set(user, []);
    const client = new ReqClient(live.proxy.fronts[SERVICE]!, 5000);
    try {
      for (let n = 0; !stopping; n++) {
        const memory = `${label} ${u}/${n}`;
        const reply = (await client.call({ action: 'add_memory', user_id: user, memory })) as { status?: string };
        if (reply.status === 'ok') acked.get(user)!.push(memory);
        else refused.push(reply);
        await sleep(100);
      }
    } finally {
      client.close();
    }
  });
  return {
    async stop() {
      stopping = true;
      await Promise.all(agents);
      expect(refused).toEqual([]);
      return acked;
    },
  };
}

/** A user's memories as the orchestrator serves them to an agent at read-new (through the translator). */
async function newSide(user: string): Promise<unknown[]> {
  const reply = (await createTranslators(new LegOrchestratorClient(live.leg), live.store.idMap)[SERVICE].handle(
    { action: 'get_memories', user_id: user },
    { createMissing: false },
  )) as { memories: { memory: unknown }[] };
  return reply.memories.map((m) => m.memory);
}

it('copies the history before the live writes, losing and doubling none of them', async () => {
  const load = liveWrites();
  // Every user has live writes on the orchestrator before the backfill reaches it.
  await sleep(500);
  const result = await runBackfill(live.config, live.store, SERVICE, { batchSize: 5, concurrency: 4 });
  await sleep(500);
  const acked = await load.stop();
  expect(result.complete).toBe(true);
  await expect.poll(async () => (await live.store.pool.query('SELECT 1 FROM outbox WHERE open')).rowCount, { timeout: 30_000 }).toBe(0);
  await live.sims.flush();
  for (let u = 0; u < USERS; u++) {
    const history = Array.from({ length: HISTORY }, (_, k) => `old ${u}/${k}`);
    await expect.poll(() => newSide(`u${u}`), { timeout: 10_000 }).toEqual([...history, ...acked.get(`u${u}`)!]);
  }
}, 120_000);

it('compares keys alike while their agents write: each write on its way to the orchestrator waited for, not reported', async () => {
  const held = ['u0', 'u1', 'u2'];
  const { result } = await reconcileBesideAgents(live, SERVICE, USERS, (u, n) => [{ action: 'add_memory', user_id: `u${u}`, memory: `compared ${u}/${n}` }], {
    held,
  });
  expect(result.remaining, JSON.stringify(result.differences.slice(0, 2))).toBe(0);
  expect(result.run.converged).toBeGreaterThanOrEqual(held.length);
}, 120_000);

it('names a differing key whose write is still queued towards the orchestrator past the re-check', async () => {
  const user = 'u-queued';
  // The key held (as a backfill holds it) for the whole run: its live write is acknowledged, then waits behind the hold.
  const held = await holdKeys(live, SERVICE, [user]);
  const client = new ReqClient(live.proxy.fronts[SERVICE]!, 5000);
  try {
    expect(await client.call({ action: 'add_memory', user_id: user, memory: 'queued' })).toMatchObject({ status: 'ok' });
    const result = await reconcileService(live.config, live.store, live.proxy.flags, SERVICE, { tuning: { recheckDelayMs: 0 } });
    expect(result.differences).toMatchObject([{ key: user, queued: true }]);
    // As the report reads it back from the store.
    expect(result.run.queued).toBe(1);
    expect(await new ReconcileRuns(live.store.pool).differences(result.run.id)).toMatchObject([{ key: user, queued: true }]);
  } finally {
    held.release();
    await held.done;
    client.close();
  }
  await expect.poll(() => newSide(user), { timeout: 30_000 }).toEqual(['queued']);
}, 120_000);

it('repairs keys while their agents keep writing: the write memshift missed put back in its place, no live write lost or doubled', async () => {
  const load = liveWrites('again');
  await sleep(500);
  // A write that reached legacy only (sent to it directly): the orchestrator lacks it, among live writes before and after.
  for (let u = 0; u < USERS; u++) await send(live.sims.endpoints[SERVICE], { action: 'add_memory', user_id: `u${u}`, memory: `unseen ${u}` });
  await sleep(500);
  const repaired = await reconcileService(live.config, live.store, live.proxy.flags, SERVICE, { repair: true });
  await sleep(500);
  const acked = await load.stop();
  // Each key put right is counted so, though its agent kept writing while it was checked.
  expect({ repaired: repaired.run.repaired, remaining: repaired.remaining }, JSON.stringify({ ...repaired.run, d: repaired.differences.slice(0, 2) })).toEqual({
    repaired: USERS,
    remaining: 0,
  });
  await expect.poll(async () => (await live.store.pool.query('SELECT 1 FROM outbox WHERE open')).rowCount, { timeout: 30_000 }).toBe(0);
  for (let u = 0; u < USERS; u++) {
    const legacy = (
      (await send(live.sims.endpoints[SERVICE], { action: 'get_memories', user_id: `u${u}` })) as { memories: { memory: unknown }[] }
    ).memories.map((m) => m.memory);
    expect(legacy.filter((m) => m === `unseen ${u}`)).toHaveLength(1);
    expect(legacy.filter((m) => String(m).startsWith('again '))).toEqual(acked.get(`u${u}`));
    await expect.poll(() => newSide(`u${u}`), { timeout: 10_000 }).toEqual(legacy);
  }
}, 120_000);

it("goes on writing a key whose holder died mid-rewrite: the proxy's outbox finishes the hold once its lease runs out", async () => {
  const user = 'u-orphaned';
  const dead = { id: randomUUID(), service: SERVICE, key: user, action: HOLD_ACTION, side: 'new' as const, raw: Buffer.alloc(0), effect: 'neutral' };
  await new OutboxTable(live.store.pool).insert({ ...dead, createdAt: new Date() }, 1_000, true, 'a backfill killed mid-rewrite');
  const client = new ReqClient(live.proxy.fronts[SERVICE]!, 5000);
  try {
    expect(await client.call({ action: 'add_memory', user_id: user, memory: 'after the hold' })).toMatchObject({ status: 'ok' });
  } finally {
    client.close();
  }
  await expect.poll(() => newSide(user), { timeout: 30_000 }).toEqual(['after the hold']);
  const { rows } = await live.store.pool.query<{ status: string }>('SELECT status FROM outbox WHERE id = $1', [dead.id]);
  expect(rows).toEqual([{ status: 'done' }]);
}, 60_000);

it('stops a rewrite whose holder stalled past its lease (SIGSTOP) once it runs again, and does the key again under a new hold', async () => {
  const user = 'u-paused';
  const history = Array.from({ length: 300 }, (_, k) => `paused old ${k}`);
  for (const memory of history) await send(live.sims.endpoints[SERVICE], { action: 'add_memory', user_id: user, memory });
  await live.sims.flush();
  const load = liveWrites('paused', [user]);
  await sleep(500);
  const settings = {
    'store.url': live.url,
    'orchestrator.endpoint': live.sims.endpoints.orchestrator,
    'reconcile.legacyDataDir': live.dir,
    'reconcile.orchestratorDatabaseUrl': live.url,
    'reconcile.holdLeaseMs': 1_000,
  };
  const child = startChild(['backfill', '--service', SERVICE, '--concurrency', '1', ...Object.entries(settings).flatMap(([k, v]) => ['--set', `${k}=${v}`])]);
  const held = async () =>
    (
      await live.store.pool.query<{ seq: string }>(`SELECT seq FROM outbox WHERE key = $1 AND action = $2 AND status = 'inflight' AND owner LIKE 'hold:%'`, [
        user,
        HOLD_ACTION,
      ])
    ).rows[0]?.seq;
  // Paused while it holds the key (its 300 writes take a while): tried again when the pause came too late.
  let seq: string | undefined;
  for (const deadline = Date.now() + 60_000; seq === undefined && Date.now() < deadline && child.proc.exitCode === null;) {
    if (!(await held())) continue;
    child.proc.kill('SIGSTOP');
    seq = await held();
    if (seq === undefined) child.proc.kill('SIGCONT');
  }
  expect(seq, child.output()).toBeDefined();
  try {
    // The proxy's outbox takes the key over once the lease ran out, and live writes of the key land meanwhile.
    await expect
      .poll(async () => (await live.store.pool.query(`SELECT 1 FROM outbox WHERE key = $1 AND status = 'done' AND seq > $2`, [user, seq])).rowCount, {
        timeout: 30_000,
      })
      .toBeGreaterThanOrEqual(2);
  } finally {
    child.proc.kill('SIGCONT');
  }
  await new Promise((resolve) => (child.proc.exitCode === null ? child.proc.once('exit', resolve) : resolve(undefined)));
  expect(child.output()).toMatch(/memshift backfill jarvis-memory: \d+ keys/);
  const acked = await load.stop();
  await expect.poll(async () => (await live.store.pool.query('SELECT 1 FROM outbox WHERE open')).rowCount, { timeout: 30_000 }).toBe(0);
  await live.sims.flush();
  await expect.poll(() => newSide(user), { timeout: 10_000 }).toEqual([...history, ...acked.get(user)!]);
}, 120_000);
