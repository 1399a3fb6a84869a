/**
 * What a read after a turn asks of a side (OutboxTable.lacks, on real PostgreSQL): whether it lacks a write of the key
 * its agent may have been told of. A copy on its way counts, and a parked one (it never landed); a write whose primary's
 * outcome was unknown does not (its agent was told of an error), whether on its way or parked. And what an intent's
 * insert tells of copies on their way to the side its write goes to first.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { HOLD_ACTION, OutboxTable } from '../../src/outbox/table.js';
import { migrate } from '../../src/store/migrations.js';
import { freshDatabaseUrl } from '../support/database.js';

const S = 'jarvis-memory' as const;
let pool: pg.Pool;
let table: OutboxTable;

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: await freshDatabaseUrl() });
  await migrate(pool);
  table = new OutboxTable(pool);
});
afterAll(async () => {
  await pool?.end();
});

/**
 * Stores a write of `key` towards new, its primary's success known; `unknown`: not answered, then marked unknown (as its
 * storer does on a timeout); `park`: parked after an attempt (a look-up having found it applied, for an unknown one).
 */
async function write(key: string, o: { unknown?: boolean; park?: boolean } = {}): Promise<void> {
  const id = randomUUID();
  const raw = Buffer.from(`{"action": "add_memory", "user_id": "${key}", "memory": "m"}`);
  await table.insert({ id, service: S, key, action: 'add_memory', side: 'new', raw, effect: 'neutral', createdAt: new Date() }, 0, o.unknown ? null : true);
  if (o.unknown) await table.markUnknown(id);
  if (!o.park) return;
  const [row] = await table.claimKeys('w', 1000, [{ service: S, key }]);
  await table.release(row!.id, 'w', { park: true, delayMs: 0, error: 'orchestrator validation_error: nope', sent: true, primaryOk: true, counted: true });
}

it('counts a copy on its way and a parked one, on their side only', async () => {
  await write('on-its-way');
  await write('parked', { park: true });
  for (const key of ['on-its-way', 'parked']) {
    expect(await table.lacks(S, key, 'new')).toBe(true);
    expect(await table.lacks(S, key, 'legacy')).toBe(false);
  }
  // A write after a turn waits only for copies on their way, not for a parked one.
  expect(await table.copying(S, 'parked', 'new')).toBe(false);
  expect(await table.unlanded(S, 'parked', 'new')).toBe(true);
});

it('leaves out writes whose primary outcome was unknown, on their way or parked', async () => {
  await write('unknown');
  await write('unknown', { unknown: true });
  expect(await table.lacks(S, 'unknown', 'new')).toBe(true);
  await write('unknown-only', { unknown: true });
  await write('unknown-parked', { unknown: true, park: true });
  for (const key of ['unknown-only', 'unknown-parked']) {
    expect(await table.lacks(S, key, 'new')).toBe(false);
    expect(await table.unlanded(S, key, 'new')).toBe(true);
  }
});

it("tells, as it stores an intent, whether the key has copies on their way to the other side: not a rewrite's hold, not an unknown one", async () => {
  const intent = (key: string, side: 'legacy' | 'new', action = 'add_memory') => ({
    id: randomUUID(),
    service: S,
    key,
    action,
    side,
    raw: Buffer.from(`{"action": "add_memory", "user_id": "${key}", "memory": "m"}`),
    effect: 'neutral',
    createdAt: new Date(),
  });
  // Another replica's write made first on legacy: its copy on its way to new. A write to new first is behind it.
  await write('copied');
  expect(await table.insert(intent('copied', 'legacy'), 0, null)).toBe(true);
  // Towards the copy's own side (a write to legacy first): nothing ahead of it.
  await write('same side');
  expect(await table.insert(intent('same side', 'new'), 0, null)).toBe(false);
  await write('batched');
  const batch = [intent('batched', 'legacy'), intent('elsewhere', 'legacy')];
  expect(await table.insertDistinct(batch, 0, null)).toEqual(new Set([batch[0]!.id]));
  await write('told nothing', { unknown: true });
  expect(await table.insert(intent('told nothing', 'legacy'), 0, null)).toBe(false);
  await table.insert(intent('held', 'new', HOLD_ACTION), 0, true, 'a backfill');
  expect(await table.insert(intent('held', 'legacy'), 0, null)).toBe(false);
});
