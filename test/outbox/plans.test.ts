/**
 * The outbox's per-write statements on real PostgreSQL keep to their own key when the planner's statistics
 * are stale: a vacuum that saw the queue empty, then a backlog of open writes on other keys (a slow new
 * side). The rows a plan reads and throws away must not grow with that backlog.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { expect, it } from 'vitest';
import { CLAIM, CLAIM_KEYS, COMPLETE_AND_NEXT, OutboxTable, SESSION_SETTINGS } from '../../src/outbox/table.js';
import { pgPool } from '../../src/util/pg-url.js';
import { migrate } from '../../src/store/migrations.js';
import { freshDatabaseUrl } from '../support/database.js';
import { completeOne, useOutboxTable } from '../support/outbox.js';

const db = useOutboxTable();
const S = 'session-memory' as const;

interface PlanNode {
  'Node Type'?: string;
  'Actual Rows'?: number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Join Filter'?: number;
  'Actual Loops'?: number;
  Plans?: PlanNode[];
}

/** Rows the plan's nodes read and discarded, over all their loops. */
const discarded = (n: PlanNode): number =>
  ((n['Rows Removed by Filter'] ?? 0) + (n['Rows Removed by Join Filter'] ?? 0)) * (n['Actual Loops'] ?? 1) +
  (n.Plans ?? []).reduce((a, c) => a + discarded(c), 0);

/** Rows the plan's scans read from the table or an index, over all their loops. */
const scanned = (n: PlanNode): number =>
  (n['Node Type']?.endsWith('Scan') && n['Node Type'] !== 'CTE Scan' && n['Node Type'] !== 'WorkTable Scan'
    ? (n['Actual Rows'] ?? 0) * (n['Actual Loops'] ?? 1)
    : 0) + (n.Plans ?? []).reduce((a, c) => a + scanned(c), 0);

/** Runs the statement under EXPLAIN ANALYZE and rolls it back. */
async function wasted(sql: string, params: unknown[]): Promise<number> {
  const client = await db.pool.connect();
  try {
    return await explained(client, sql, params);
  } finally {
    client.release();
  }
}

/** EXPLAIN ANALYZE of `sql` (or of EXECUTE of a prepared statement, `params` then being its literal arguments) on `client`, rolled back. */
async function explained(client: pg.PoolClient, sql: string, params: unknown[] = [], count = discarded): Promise<number> {
  await client.query('BEGIN');
  try {
    const { rows } = await client.query<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`, params);
    return count(rows[0]!['QUERY PLAN'][0]!.Plan);
  } finally {
    await client.query('ROLLBACK');
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
  await db.pool.query(
    `INSERT INTO outbox (id, service, key, seq, action, side, request, status)
     SELECT gen_random_uuid(), $1, 'history-' || g, g, 'add_interaction', 'new', '\\x7b7d', 'done' FROM generate_series(1, 2000) g`,
    [S],
  );
  await db.pool.query('VACUUM ANALYZE outbox');
  // Then a backlog of 600 writes on other keys, not yet due, and key k with two writes.
  await db.pool.query(
    `INSERT INTO outbox (id, service, key, seq, action, side, request, next_attempt_at)
     SELECT gen_random_uuid(), $1, 'backlog-' || g, 10000 + g, 'add_interaction', 'new', '\\x7b7d', now() + interval '1 minute'
     FROM generate_series(1, 600) g`,
    [S],
  );
  for (let n = 0; n < 2; n++) await db.table.insert(intent('k', n), 0, true);
  const [head] = await db.table.claimKeys('w', 30_000, [{ service: S, key: 'k' }]);

  expect(await wasted(COMPLETE_AND_NEXT, ['w', 30_000, [head!.id], [], ['done'], [null], []])).toBeLessThan(50);
  expect(await wasted(CLAIM_KEYS, ['w', 30_000, [], [S], ['backlog-7'], []])).toBeLessThan(50);
  // Rolled back above; done for real here, it still hands the key's next write over.
  const { completed, next } = await completeOne(db.table, head!.id, 'w', 30_000);
  expect(completed).toBe(true);
  expect(JSON.parse(next!.raw.toString()).content).toBe('k#1');
});

it('keeps to its own key on connections with the outbox settings, with plans made while the table was small', async () => {
  const url = await freshDatabaseUrl();
  const pools = [SESSION_SETTINGS, SESSION_SETTINGS.filter(([name]) => name === 'plan_cache_mode')].map((settings) =>
    pgPool(url, 'test', settings, { connectionTimeoutMillis: 10_000 }),
  );
  const clients = await Promise.all(pools.map((p) => p.connect()));
  try {
    await migrate(pools[0]!);
    const t = new OutboxTable(pools[0]!);
    for (let n = 0; n < 2; n++) await t.insert(intent('k', n), 0, true);
    const [head] = await t.claimKeys('w', 30_000, [{ service: S, key: 'k' }]);
    // Statements as the outbox runs them (prepared once, planned at their first run, at a start: the table small).
    const complete = `EXECUTE complete('w', 30000, '{${head!.id}}', '{}', '{done}', '{NULL}', '{}')`;
    const claim = `EXECUTE claim('w', 30000, '{}', '{${S}}', '{burst-7}', '{}')`;
    for (const c of clients) {
      await c.query(`PREPARE complete AS ${COMPLETE_AND_NEXT}`);
      await c.query(`PREPARE claim AS ${CLAIM_KEYS}`);
      await explained(c, complete);
      await explained(c, claim);
    }
    // Then a burst: 5,000 writes of other keys in a few seconds, long before autovacuum analyzes the db.table.
    await pools[0]!.query(
      `INSERT INTO outbox (id, service, key, seq, action, side, request, status, owner)
       SELECT gen_random_uuid(), $1, 'burst-' || g, g, 'add_interaction', 'new', '\\x7b7d', 'done', 'w' FROM generate_series(1, 5000) g`,
      [S],
    );
    const [settled, plain] = clients as [pg.PoolClient, pg.PoolClient];
    expect(await explained(settled, complete)).toBeLessThan(50);
    expect(await explained(settled, claim)).toBeLessThan(50);
    // What the settings are for: the plan made without them reads the whole burst.
    expect(await explained(plain, complete)).toBeGreaterThan(1_000);
  } finally {
    clients.forEach((c) => c.release());
    await Promise.all(pools.map((p) => p.end()));
  }
});

it("polls a backlog of thousands of writes on a few keys (a hung side) by its keys' heads, without reading the backlog", async () => {
  const pool = pgPool(await freshDatabaseUrl(), 'test', SESSION_SETTINGS, { connectionTimeoutMillis: 10_000 });
  const client = await pool.connect();
  try {
    await migrate(pool);
    // 8,000 due writes on four keys, one on another service, and a finished write ahead of each key's head.
    await pool.query(
      `INSERT INTO outbox (id, service, key, seq, action, side, request, status, next_attempt_at)
       SELECT gen_random_uuid(), CASE WHEN g = 8001 THEN 'jarvis-memory' ELSE $1 END, 'hung-' || (g % 4), g, 'add_interaction', 'new', '\\x7b7d',
              CASE WHEN g <= 4 THEN 'done' ELSE 'pending' END, now() - interval '1 second'
       FROM generate_series(1, 8001) g`,
      [S],
    );
    await pool.query('ANALYZE outbox');
    await client.query(`PREPARE poll AS ${CLAIM}`);
    expect(await explained(client, `EXECUTE poll('w', 30000, 64, '{${S}}', 1000)`, [], scanned)).toBeLessThan(100);
    const claimed = await new OutboxTable(pool).claim({ owner: 'w', leaseMs: 30_000, limit: 64, services: [S], ownerGoneMs: 1_000 });
    expect(claimed.map((r) => `${r.key}@${r.seq}`).sort()).toEqual(['hung-0@8', 'hung-1@5', 'hung-2@6', 'hung-3@7']);
  } finally {
    client.release();
    await pool.end();
  }
});
