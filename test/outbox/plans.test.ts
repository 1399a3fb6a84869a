/**
 * The outbox's per-write statements on real PostgreSQL keep to their own key when the planner's statistics
 * are stale: a vacuum that saw the queue empty, then a backlog of open writes on other keys (a slow new
 * side). The rows a plan reads and throws away must not grow with that backlog.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CLAIM_KEYS, COMPLETE_AND_NEXT, OutboxTable } from '../../src/outbox/table.js';
import { migrate } from '../../src/store/migrations.js';
import { freshDatabaseUrl } from '../support/database.js';
import { completeOne } from '../support/outbox.js';

let pool: pg.Pool;
let table: OutboxTable;
const S = 'session-memory' as const;

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: await freshDatabaseUrl() });
  await migrate(pool);
  table = new OutboxTable(pool);
});
afterAll(async () => {
  await pool.end();
});

interface PlanNode {
  'Rows Removed by Filter'?: number;
  'Rows Removed by Join Filter'?: number;
  'Actual Loops'?: number;
  Plans?: PlanNode[];
}

/** Rows the plan's nodes read and discarded, over all their loops. */
const discarded = (n: PlanNode): number =>
  ((n['Rows Removed by Filter'] ?? 0) + (n['Rows Removed by Join Filter'] ?? 0)) * (n['Actual Loops'] ?? 1) +
  (n.Plans ?? []).reduce((a, c) => a + discarded(c), 0);

/** Runs the statement under EXPLAIN ANALYZE and rolls it back. */
async function wasted(sql: string, params: unknown[]): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const { rows } = await client.query<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`, params);
    return discarded(rows[0]!['QUERY PLAN'][0]!.Plan);
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
}

const intent = (key: string, n: number) => ({
  id: randomUUID(),
  service: S,
  key,
  action: 'add_interaction',
  side: 'new' as const,
  raw: Buffer.from(JSON.stringify({ action: 'add_interaction', session_id: key, role: 'user', content: `${key}#${n}` })),
  effect: 'neutral',
  createdAt: new Date(),
});

it('completes a write and claims a key head without wading through the backlog of other keys', async () => {
  // An hour of history: 2,000 applied writes, and a vacuum that saw no open one.
  await pool.query(
    `INSERT INTO outbox (id, service, key, seq, action, side, request, status)
     SELECT gen_random_uuid(), $1, 'history-' || g, g, 'add_interaction', 'new', '\\x7b7d', 'done' FROM generate_series(1, 2000) g`,
    [S],
  );
  await pool.query('VACUUM ANALYZE outbox');
  // Then a backlog of 600 writes on other keys, not yet due, and key k with two writes.
  await pool.query(
    `INSERT INTO outbox (id, service, key, seq, action, side, request, next_attempt_at)
     SELECT gen_random_uuid(), $1, 'backlog-' || g, 10000 + g, 'add_interaction', 'new', '\\x7b7d', now() + interval '1 minute'
     FROM generate_series(1, 600) g`,
    [S],
  );
  for (let n = 0; n < 2; n++) await table.insert(intent('k', n), 0, true);
  const [head] = await table.claimKeys('w', 30_000, [{ service: S, key: 'k' }]);

  expect(await wasted(COMPLETE_AND_NEXT, ['w', 30_000, [head!.id], [], ['done'], [null]])).toBeLessThan(50);
  expect(await wasted(CLAIM_KEYS, ['w', 30_000, [], [S], ['backlog-7']])).toBeLessThan(50);
  // Rolled back above; done for real here, it still hands the key's next write over.
  const { completed, next } = await completeOne(table, head!.id, 'w', 30_000);
  expect(completed).toBe(true);
  expect(JSON.parse(next!.raw.toString()).content).toBe('k#1');
});
