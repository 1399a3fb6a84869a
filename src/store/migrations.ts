/**
 * The schema as an append-only list of migrations, applied at start under one advisory lock so replicas
 * starting together migrate once. A migration's version is its position in the list: add new ones at
 * the end, never edit or reorder applied ones.
 */
import type pg from 'pg';
import { childLogger } from '../telemetry/log.js';

const log = childLogger('store.migrations');

export interface Migration {
  name: string;
  sql: string;
}

export const OUTCOMES = ['match', 'mismatch', 'legacy_error', 'new_error', 'skipped'] as const;

export const MIGRATIONS: readonly Migration[] = [
  {
    name: 'id_map',
    sql: `
      CREATE TABLE id_map (
        service text NOT NULL,
        legacy_key text NOT NULL,
        orchestrator_session_id text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (service, legacy_key)
      )`,
  },
  {
    // *_ms_count: how many of `count` carried that side's latency (errors and skips may not), for averages.
    name: 'comparison_counts',
    sql: `
      CREATE TABLE comparison_counts (
        minute timestamptz NOT NULL,
        service text NOT NULL,
        action text NOT NULL,
        outcome text NOT NULL CHECK (outcome IN (${OUTCOMES.map((o) => `'${o}'`).join(', ')})),
        count bigint NOT NULL DEFAULT 0,
        legacy_ms_count bigint NOT NULL DEFAULT 0,
        legacy_ms_sum double precision NOT NULL DEFAULT 0,
        legacy_ms_max double precision NOT NULL DEFAULT 0,
        new_ms_count bigint NOT NULL DEFAULT 0,
        new_ms_sum double precision NOT NULL DEFAULT 0,
        new_ms_max double precision NOT NULL DEFAULT 0,
        PRIMARY KEY (minute, service, action, outcome)
      );
      CREATE INDEX comparison_counts_service_minute ON comparison_counts (service, minute)`,
  },
  {
    name: 'mismatch_samples',
    sql: `
      CREATE TABLE mismatch_samples (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now(),
        service text NOT NULL,
        action text NOT NULL,
        request jsonb,
        legacy_reply jsonb,
        new_reply jsonb,
        diff jsonb NOT NULL DEFAULT '[]'
      );
      CREATE INDEX mismatch_samples_route ON mismatch_samples (service, action, id DESC);
      CREATE INDEX mismatch_samples_service_at ON mismatch_samples (service, at)`,
  },
];

// Arbitrary, fixed: every memshift replica must take the same lock.
const MIGRATION_LOCK = 0x6d656d73_6869667n; // "memshif"

/** Applies the migrations not yet recorded in schema_migrations; returns the versions it applied. */
export async function migrate(pool: pg.Pool, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    // Taken before anything else: even CREATE TABLE IF NOT EXISTS races when two sessions run it at once.
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK.toString()]);
    await client.query(`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
    const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
    const done = new Set(rows.map((r) => r.version));
    const applied: number[] = [];
    for (const [i, m] of migrations.entries()) {
      const version = i + 1;
      if (done.has(version)) continue;
      await client.query(m.sql);
      await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [version, m.name]);
      applied.push(version);
    }
    await client.query('COMMIT');
    const newer = [...done].filter((v) => v > migrations.length);
    if (newer.length) log.warn({ versions: newer }, 'database has migrations this version does not know (newer replica?)');
    if (applied.length) log.info({ applied }, 'schema migrated');
    return applied;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
