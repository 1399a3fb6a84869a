/**
 * What a read after a turn asks of a side (OutboxTable.lacks, on real PostgreSQL): whether it lacks a write of the key
 * its agent may have been told of. A copy on its way counts, and a parked one (it never landed); a write whose primary's
 * outcome was unknown does not (its agent was told of an error), whether on its way or parked.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { OutboxTable } from '../../src/outbox/table.js';
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
