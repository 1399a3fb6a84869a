/**
 * The reconciler's reads of the orchestrator's tables on real PostgreSQL grow with the tables, not with their square,
 * when the planner has no statistics yet: the tables as a backfill leaves them, before autovacuum analyzed them (its
 * closing reconciliation runs at once). Rows read are PostgreSQL's own counters, not timings.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { openOrchestratorSource } from '../../src/reconcile/orchestrator.js';
import { generateJarvisMemoryFixture, generateSessionMemoryFixture } from '../../src/tools/bench/fixtures.js';
import { ORCHESTRATOR_INDEXES, ORCHESTRATOR_TABLES } from '../../src/tools/sim/storage/schema.js';
import { freshDatabaseUrl } from '../support/database.js';
import type { ServiceName } from '../../src/services/registry.js';

/** The smaller of the two loads' sizes; the larger is twice it. */
const SIZE = 1_500;
const dir = mkdtempSync(join(tmpdir(), 'memshift-plans-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Rows the server read from the orchestrator's tables and their indexes, by PostgreSQL's cumulative statistics. */
async function rowsRead(db: pg.Pool): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    `SELECT (SELECT coalesce(sum(seq_tup_read + coalesce(idx_tup_fetch, 0)), 0) FROM pg_stat_user_tables WHERE relname IN ('sessions', 'memory_entries'))
          + (SELECT coalesce(sum(idx_tup_read), 0) FROM pg_stat_user_indexes WHERE relname IN ('sessions', 'memory_entries')) AS n`,
  );
  return Number(rows[0]!.n);
}

/** Once no other connection is open on the database: a backend hands its counters over as it exits. */
async function othersGone(db: pg.Pool): Promise<void> {
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(100)) {
    const { rows } = await db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
    );
    if (rows[0]!.n === 0) return;
  }
  throw new Error('connections to the orchestrator database still open after 30 s');
}

/**
 * contextual-memory's rows as its translator writes them, straight into the tables (no fixture of the bench has it):
 * per session its interactions, a decision and the agent's snapshot, the indexes made before the rows as a fresh
 * orchestrator has them.
 */
async function loadContextual(db: pg.Pool, sessions: number, interactions: number): Promise<void> {
  await db.query(ORCHESTRATOR_TABLES + ORCHESTRATOR_INDEXES);
  for (const table of ['sessions', 'memory_entries']) await db.query(`ALTER TABLE ${table} SET (autovacuum_enabled = false)`);
  const session = `'ctx-' || lpad(i::text, 6, '0')`;
  await db.query(
    `INSERT INTO sessions (session_id, user_id, session_type, metadata) SELECT ${session}, 'default', 'conversation',
            jsonb_build_object('legacy_session_id', 'conv-' || lpad(i::text, 6, '0')) FROM generate_series(1, $1) i`,
    [sessions],
  );
  // Element j: the interactions, then a decision (j = $2), then the snapshot (j = $2 + 1).
  await db.query(
    `INSERT INTO memory_entries (memory_id, session_id, memory_type, content, source_agent, created_at, updated_at)
     SELECT ${session} || '-' || j, ${session}, CASE WHEN j > $2 THEN 'agent_state' ELSE 'context' END,
            CASE WHEN j > $2 THEN jsonb_build_object('text', 'snapshot', 'metadata', jsonb_build_object('snapshot', jsonb_build_object('summary', 'n ' || i)))
                 ELSE jsonb_build_object('text', 'said ' || j, 'metadata', jsonb_build_object('type', CASE WHEN j = $2 THEN 'decision' ELSE 'user' END,
                                                                                               'timestamp', 1704067200 + i + j)) END,
            'contextual_memory_agent', now() + j * interval '1 ms', now()
     FROM generate_series(1, $1) i, generate_series(0, $2 + 1) j`,
    [sessions, interactions],
  );
}

interface Case {
  title: string;
  service: ServiceName;
  /** Loads the tables at size n; resolves to the number of keys loaded. */
  load(db: pg.Pool, n: number): Promise<number>;
}

const cases: Case[] = [
  {
    title: 'session-memory, n sessions',
    service: 'session-memory',
    load: async (db, n) => {
      await generateSessionMemoryFixture({ records: n, differences: 0, sqlitePath: join(dir, `sm-${n}.db`), orchestrator: db, analyzed: false });
      return n;
    },
  },
  {
    title: 'jarvis-memory, n users',
    service: 'jarvis-memory',
    load: async (db, n) => {
      await generateJarvisMemoryFixture({ records: n, differences: 0, jsonPath: join(dir, `jm-${n}.json`), orchestrator: db, analyzed: false });
      return n;
    },
  },
  {
    title: 'contextual-memory, n sessions',
    service: 'contextual-memory',
    load: async (db, n) => (await loadContextual(db, n, 2), n),
  },
  {
    // The snapshot, read by a subquery of its own, once per session: once per interaction it grew with the square.
    title: 'contextual-memory, 10 sessions of n / 10 interactions',
    service: 'contextual-memory',
    load: async (db, n) => (await loadContextual(db, 10, n / 10), 10),
  },
];

/** Rows read by a whole range's checksums, a page of records and the retained count, on a fresh load at size n. */
async function readsAt({ service, load }: Case, n: number): Promise<number> {
  const url = await freshDatabaseUrl();
  const db = new pg.Pool({ connectionString: url, max: 1 });
  try {
    const keys = await load(db, n);
    await othersGone(db);
    await db.query('SELECT pg_stat_force_next_flush()');
    const before = await rowsRead(db);
    const source = openOrchestratorSource(service, url);
    try {
      const [sums] = await source.checksums([{}]);
      expect(sums!.count).toBe(keys);
      expect(await source.records({}, { limit: 500 })).toHaveLength(Math.min(500, keys));
      await source.retained({});
    } finally {
      await source.close();
    }
    await othersGone(db);
    await db.query('SELECT pg_stat_clear_snapshot()');
    return (await rowsRead(db)) - before;
  } finally {
    await db.end();
  }
}

for (const c of cases) {
  it(`${c.title}: a whole range read on tables without statistics reads twice the rows at twice the size, not four times`, async () => {
    const small = await readsAt(c, SIZE);
    const large = await readsAt(c, 2 * SIZE);
    // A plan that probes an index of the whole table once per session reads sessions x rows: four times as many.
    expect(large / small, `${small} rows read at n = ${SIZE}, ${large} at ${2 * SIZE}`).toBeLessThan(2.5);
  });
}
