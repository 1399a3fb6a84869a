/** A key held for a repair or the backfill, on real PostgreSQL: earlier writes waited for, later ones kept back, a dead holder's hold let go. */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeEach, expect, it } from 'vitest';
import { HoldLost, KeyHolds, KeyStillWritten, MayStillLand } from '../../src/outbox/hold.js';
import { HOLD_ACTION, type OutboxIntent } from '../../src/outbox/table.js';
import { completeOne, useOutboxTable } from '../support/outbox.js';

const db = useOutboxTable();
const S = 'jarvis-memory' as const;

beforeEach(async () => {
  await db.pool.query('TRUNCATE outbox, outbox_keys');
});

const write = (key: string, n: number): OutboxIntent => ({
  id: randomUUID(),
  service: S,
  key,
  action: 'add_memory',
  side: 'new',
  raw: Buffer.from(JSON.stringify({ action: 'add_memory', user_id: key, memory: `${key}#${n}` })),
  effect: 'neutral',
  createdAt: new Date(),
});
const claimed = async (owner: string) => (await db.table.claim({ owner, leaseMs: 30_000, limit: 10, services: [S], ownerGoneMs: 3_000 })).map((r) => r.action);
const statusOf = async (action: string) =>
  (await db.pool.query<{ status: string }>('SELECT status FROM outbox WHERE action = $1 ORDER BY seq', [action])).rows.map((r) => r.status);

it('waits for the key’s earlier write, keeps its later writes back while it works, then lets them go', async () => {
  const holds = new KeyHolds(db.pool);
  await db.table.insert(write('u1', 0), 0, true);
  const [earlier] = await db.table.claim({ owner: 'worker', leaseMs: 30_000, limit: 10, services: [S], ownerGoneMs: 3_000 });
  const events: string[] = [];
  let release!: () => void;
  const working = holds.hold(S, 'u1', 'new', async () => {
    events.push('work');
    await new Promise<void>((r) => (release = r));
  });
  await sleep(300);
  expect(events).toEqual([]);
  await completeOne(db.table, earlier!.id, 'worker', 30_000);
  await expect.poll(() => events, { timeout: 10_000 }).toEqual(['work']);
  // A write of the key stored meanwhile is not the key's head: no worker takes it while the hold works.
  await db.table.insert(write('u1', 1), 0, true);
  expect(await claimed('worker')).toEqual([]);
  release();
  await working;
  expect(await statusOf(HOLD_ACTION)).toEqual(['done']);
  expect(await claimed('worker')).toEqual(['add_memory']);
});

it('leaves the key untouched when its earlier write does not land within the wait, and lets go of it', async () => {
  const holds = new KeyHolds(db.pool, { waitMs: 500 });
  await db.table.insert(write('u2', 0), 0, true);
  await db.table.claim({ owner: 'stuck worker', leaseMs: 30_000, limit: 10, services: [S], ownerGoneMs: 3_000 });
  let worked = false;
  await expect(holds.hold(S, 'u2', 'new', async () => (worked = true))).rejects.toBeInstanceOf(KeyStillWritten);
  expect(worked).toBe(false);
  expect(await statusOf(HOLD_ACTION)).toEqual(['done']);
});

it('finishes a hold whose holder died (its lease ran out) before holding the key itself', async () => {
  const dead = { ...write('u3', 0), action: HOLD_ACTION, raw: Buffer.alloc(0) };
  await db.table.insert(dead, 200, true, 'a holder killed mid-rewrite');
  await sleep(400);
  const holds = new KeyHolds(db.pool, { waitMs: 5_000 });
  expect(await holds.hold(S, 'u3', 'new', async () => 'held')).toBe('held');
  expect(await statusOf(HOLD_ACTION)).toEqual(['done', 'done']);
});

it('stops the work of a holder that lost the key (its lease ran out, a worker took it over), and fails the hold', async () => {
  const holds = new KeyHolds(db.pool, { leaseMs: 300 });
  // As the proxy's outbox takes over a hold whose lease ran out while its holder was paused.
  const takeOver = () => db.pool.query(`UPDATE outbox SET owner = 'worker' WHERE action = $1 AND status = 'inflight'`, [HOLD_ACTION]);
  const checks: string[] = [];
  const stopped = holds.hold(S, 'u4', 'new', async (fence) => {
    await fence.check();
    checks.push('before');
    await takeOver();
    await sleep(400);
    await fence.check();
    checks.push('after');
  });
  await expect(stopped).rejects.toBeInstanceOf(HoldLost);
  expect(checks).toEqual(['before']);
  // Work that wrote nothing more after the take-over still ran without the key: the hold fails at its end.
  await expect(holds.hold(S, 'u5', 'new', async () => void (await takeOver()))).rejects.toBeInstanceOf(HoldLost);
  expect(await statusOf(HOLD_ACTION)).toEqual(['done', 'done']);
});

it('leaves the hold of work whose write may still land to run out: the key’s later writes wait until a worker takes the hold', async () => {
  const holds = new KeyHolds(db.pool, { leaseMs: 1_000 });
  const failing = holds.hold(S, 'u5', 'new', () => Promise.reject(new MayStillLand('outcome unknown after every look-up')));
  await expect(failing).rejects.toBeInstanceOf(MayStillLand);
  expect(await statusOf(HOLD_ACTION)).toEqual(['inflight']);
  await db.table.insert(write('u5', 1), 0, true);
  expect(await claimed('worker')).toEqual([]);
  // Once its lease ran out a worker takes the hold itself (the runner ends it after a barrier), not the write behind it.
  await expect.poll(() => claimed('worker'), { timeout: 10_000 }).toEqual([HOLD_ACTION]);
});

it('counts as landed lately every write that adds an element on the orchestrator, those legacy cannot show included', async () => {
  const C = 'contextual-memory' as const;
  // A contextual interaction shows nowhere in legacy's replies (its lookup effect is neutral), yet its orchestrator
  // copy carries its write tag: a rewrite must wait for the store to show it like any other.
  const interaction = { ...write('c1', 0), service: C, action: 'add_interaction', raw: Buffer.from('{}'), effect: 'neutral' };
  const decision = { ...write('c1', 1), service: C, action: 'record_decision', raw: Buffer.from('{}'), effect: 'adds:x' };
  for (const w of [interaction, decision]) {
    await db.table.insert(w, 0, true);
    await db.table.claim({ owner: 'worker', leaseMs: 30_000, limit: 10, services: [C], ownerGoneMs: 3_000 });
    await completeOne(db.table, w.id, 'worker', 30_000);
  }
  expect(await new KeyHolds(db.pool).landedLately(C, 'c1', 'new')).toEqual([interaction.id, decision.id]);
});
