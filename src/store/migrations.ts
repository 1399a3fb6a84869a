/**
 * The schema as an append-only list of migrations, applied at start under one advisory lock so replicas
 * starting together migrate once. A migration's version is its position in the list: add new ones at
 * the end, never edit or reorder applied ones.
 *
 * Over 300 lines: the list is the schema's history, one entry per change, read top to bottom.
 */
import pg from 'pg';
import { childLogger } from '../telemetry/log.js';
import { inTransaction } from './client.js';

const log = childLogger('store.migrations');

export interface Migration {
  name: string;
  sql: string;
}

/**
 * A shadowed read's outcome as counted: compared (match, mismatch), a side that failed, skipped for a write in
 * flight, or such a skipped read compared later once its key settled (recheck_match, recheck_mismatch).
 */
export const OUTCOMES = ['match', 'mismatch', 'legacy_error', 'new_error', 'skipped', 'recheck_match', 'recheck_mismatch'] as const;

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
        outcome text NOT NULL CHECK (outcome IN ('match', 'mismatch', 'legacy_error', 'new_error', 'skipped')),
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
  {
    // Secondary writes (src/outbox/). seq orders a key's writes: it is drawn while holding the key's
    // outbox_keys row lock, so per key seq order is commit order. For an inflight row next_attempt_at is its lease deadline.
    name: 'outbox',
    sql: `
      CREATE SEQUENCE outbox_seq;
      CREATE TABLE outbox_keys (
        service text NOT NULL,
        key text NOT NULL,
        last_seq bigint NOT NULL,
        PRIMARY KEY (service, key)
      );
      CREATE TABLE outbox (
        id uuid PRIMARY KEY,
        service text NOT NULL,
        key text NOT NULL,
        seq bigint NOT NULL,
        action text NOT NULL,
        side text NOT NULL CHECK (side IN ('legacy', 'new')),
        request bytea NOT NULL,
        status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'inflight', 'done', 'dead')),
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        owner text,
        last_error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (service, key, seq)
      );
      CREATE INDEX outbox_open ON outbox (service, key, seq) WHERE status IN ('pending', 'inflight');
      CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status IN ('pending', 'inflight');
      CREATE INDEX outbox_finished ON outbox (status, updated_at) WHERE status IN ('done', 'dead')`,
  },
  {
    // One row per reconciliation run (src/reconcile/), read by the daily report; its differences
    // (confirmed by a re-check at the end of the run) in reconcile_differences. checkpoint_key: every key
    // below it has been compared, so an interrupted run resumes there.
    name: 'reconcile_runs',
    sql: `
      CREATE TABLE reconcile_runs (
        id bigserial PRIMARY KEY,
        service text NOT NULL,
        trigger text NOT NULL DEFAULT 'manual' CHECK (trigger IN ('manual', 'scheduled', 'backfill')),
        stage text,
        truth text NOT NULL CHECK (truth IN ('legacy', 'new')),
        repair boolean NOT NULL DEFAULT false,
        status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
        started_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz,
        checkpoint_key text,
        legacy_records bigint NOT NULL DEFAULT 0,
        new_records bigint NOT NULL DEFAULT 0,
        missing_in_new integer NOT NULL DEFAULT 0,
        missing_in_legacy integer NOT NULL DEFAULT 0,
        differing integer NOT NULL DEFAULT 0,
        converged integer NOT NULL DEFAULT 0,
        repaired integer NOT NULL DEFAULT 0,
        repair_failed integer NOT NULL DEFAULT 0,
        ranges_checked integer NOT NULL DEFAULT 0,
        records_fetched integer NOT NULL DEFAULT 0,
        sample_diffs jsonb NOT NULL DEFAULT '[]',
        error text
      );
      CREATE INDEX reconcile_runs_service_started ON reconcile_runs (service, started_at DESC);
      CREATE TABLE reconcile_differences (
        run_id bigint NOT NULL REFERENCES reconcile_runs (id) ON DELETE CASCADE,
        key text NOT NULL,
        kind text NOT NULL CHECK (kind IN ('missing_in_new', 'missing_in_legacy', 'differing')),
        diffs jsonb NOT NULL DEFAULT '[]',
        repaired boolean,
        PRIMARY KEY (run_id, key)
      )`,
  },
  {
    // Resume points of long jobs (backfill:<service>), as JSON.
    name: 'checkpoints',
    sql: `
      CREATE TABLE checkpoints (
        name text PRIMARY KEY,
        value jsonb NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`,
  },
  {
    // What the guard saw (window figures per rule) and did (flags changed locally and in Unleash).
    name: 'guard_events',
    sql: `
      CREATE TABLE guard_events (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now(),
        service text NOT NULL,
        stage text NOT NULL,
        breaches jsonb NOT NULL,
        window_figures jsonb NOT NULL,
        flags_changed jsonb NOT NULL DEFAULT '[]',
        unleash jsonb NOT NULL DEFAULT '{}'
      );
      CREATE INDEX guard_events_service_at ON guard_events (service, at DESC)`,
  },
  {
    // Daily reports (src/report/), one per UTC day, rewritten while the day is open; served by /admin/reports.
    name: 'reports',
    sql: `
      CREATE TABLE reports (
        date date PRIMARY KEY,
        generated_at timestamptz NOT NULL DEFAULT now(),
        html text NOT NULL,
        markdown text NOT NULL,
        json jsonb NOT NULL
      )`,
  },
  {
    // The outbox's open rows get one partial index, on a predicate of its own. On the status predicate, a
    // lookup by id that also said status = 'inflight' could use the partial indexes, and once a vacuum had
    // seen the queue empty the planner took them for near-empty: with a backlog of hundreds, each completion
    // scanned all of it (~100 ms of CPU, so the backlog grew). Only queries that say `open` can use it now,
    // and with outbox_due gone a key's head has no other partial index to be misled into.
    name: 'outbox_open_column',
    sql: `
      ALTER TABLE outbox ADD COLUMN open boolean GENERATED ALWAYS AS (status IN ('pending', 'inflight')) STORED;
      DROP INDEX outbox_open;
      DROP INDEX outbox_due;
      CREATE INDEX outbox_open ON outbox (service, key, seq) WHERE open`,
  },
  {
    // Unknown outcomes (src/outbox/resolve.ts). An intent is now stored before the primary call:
    // primary_ok is NULL until the primary's answer is known (true: applied; a refused write is 'dropped').
    // sent: an attempt on the secondary may have reached it and its outcome is not recorded, so the
    // next attempt looks the write up there first. Rows from before this migration had their primary applied.
    name: 'outbox_unknown_outcomes',
    sql: `
      ALTER TABLE outbox ADD COLUMN primary_ok boolean DEFAULT true;
      ALTER TABLE outbox ALTER COLUMN primary_ok DROP DEFAULT;
      ALTER TABLE outbox ADD COLUMN sent boolean NOT NULL DEFAULT false;
      ALTER TABLE outbox DROP CONSTRAINT outbox_status_check;
      ALTER TABLE outbox ADD CONSTRAINT outbox_status_check CHECK (status IN ('pending', 'inflight', 'done', 'dead', 'dropped'));
      CREATE INDEX outbox_dead_key ON outbox (service, key) WHERE status = 'dead'`,
  },
  {
    // Unknown outcomes per minute (src/store/unknowns.ts): seen, and how look-ups settled them, for the report.
    name: 'unknown_outcomes',
    sql: `
      CREATE TABLE unknown_outcomes (
        minute timestamptz NOT NULL,
        service text NOT NULL,
        side text NOT NULL CHECK (side IN ('legacy', 'new')),
        role text NOT NULL CHECK (role IN ('primary', 'secondary')),
        outcome text NOT NULL CHECK (outcome IN ('seen', 'applied', 'not_applied')),
        count bigint NOT NULL DEFAULT 0,
        resolve_ms_sum double precision NOT NULL DEFAULT 0,
        resolve_ms_max double precision NOT NULL DEFAULT 0,
        PRIMARY KEY (minute, service, side, role, outcome)
      )`,
  },
  {
    // Orchestrator elements older than what the legacy service keeps (contextual-memory's 50 newest
    // interactions): counted per run as retained history, never as differences.
    name: 'reconcile_retained',
    sql: `ALTER TABLE reconcile_runs ADD COLUMN retained bigint NOT NULL DEFAULT 0`,
  },
  {
    // Deferred re-checks (src/plan/rechecks.ts) count as outcomes of their own; tallies (src/store/tallies.ts)
    // keep per-day figures that are not outcomes: kinds of mismatch, re-checks given up, the A/A noise baseline.
    name: 'rechecks_and_tallies',
    sql: `
      ALTER TABLE comparison_counts DROP CONSTRAINT comparison_counts_outcome_check;
      ALTER TABLE comparison_counts ADD CONSTRAINT comparison_counts_outcome_check CHECK (outcome IN (${OUTCOMES.map((o) => `'${o}'`).join(', ')}));
      CREATE TABLE comparison_tallies (
        minute timestamptz NOT NULL,
        service text NOT NULL,
        action text NOT NULL,
        tally text NOT NULL,
        count bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (minute, service, action, tally)
      );
      CREATE INDEX comparison_tallies_minute ON comparison_tallies (minute)`,
  },
  {
    // A finished outbox write keeps what look-ups need (its effect, src/services/legacy-lookup.ts), not the
    // request with the user's text; rows finished before this keep theirs until purged.
    name: 'outbox_effect',
    sql: `ALTER TABLE outbox ADD COLUMN effect text`,
  },
  {
    // The fleet's guard (src/guard/fleet.ts): each replica's window buckets, summed by every replica sharing the
    // store; guard events name the replica that tripped, so the others follow its rollback.
    name: 'guard_fleet',
    sql: `
      CREATE TABLE guard_buckets (
        service text NOT NULL,
        replica text NOT NULL,
        epoch bigint NOT NULL,
        compared bigint NOT NULL,
        mismatches bigint NOT NULL,
        new_calls bigint NOT NULL,
        new_errors bigint NOT NULL,
        latency_pairs bigint NOT NULL,
        legacy_hist double precision[] NOT NULL,
        new_hist double precision[] NOT NULL,
        PRIMARY KEY (service, epoch, replica)
      );
      ALTER TABLE guard_events ADD COLUMN replica text`,
  },
  {
    // A person's rollout actions from the dashboard (src/dashboard/actions.ts): who, when, what it changed where.
    name: 'operator_actions',
    sql: `
      CREATE TABLE operator_actions (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now(),
        who text NOT NULL,
        action jsonb NOT NULL,
        target text NOT NULL,
        edits jsonb NOT NULL,
        error text
      )`,
  },
  {
    // When memshift saw the primary acknowledge an outbox write: a storer that hands the write over keeps it on the
    // row, so its taker copies it with that time rather than reading the legacy service's history for it.
    name: 'outbox_acked_at',
    sql: `ALTER TABLE outbox ADD COLUMN acked_at timestamptz`,
  },
  {
    // The flags last fetched from Unleash (src/store/fetched-flags.ts): a replica started while Unleash is out of
    // reach serves them, as the rest of the fleet does, rather than the flags file's.
    name: 'flags_fetched',
    sql: `
      CREATE TABLE flags_fetched (
        app text PRIMARY KEY,
        response jsonb NOT NULL,
        fetched_at timestamptz NOT NULL DEFAULT now()
      )`,
  },
  {
    // A person's resume is recorded beside the guard's rollbacks, with the newest rollback it lets go of: the fleet
    // follows it, and a replica started later follows only the rollbacks still in force (src/guard/guard.ts).
    name: 'guard_event_kind',
    sql: `ALTER TABLE guard_events ADD COLUMN kind text NOT NULL DEFAULT 'rollback', ADD COLUMN resumes bigint`,
  },
  {
    // A difference whose key still had writes queued towards the secondary when its run ended: the outbox had not
    // caught up, so it may yet come alike (a later run judges it again); counted per run for the report.
    name: 'reconcile_queued',
    sql: `
      ALTER TABLE reconcile_differences ADD COLUMN queued boolean NOT NULL DEFAULT false;
      ALTER TABLE reconcile_runs ADD COLUMN queued integer NOT NULL DEFAULT 0`,
  },
  {
    // The settings replicas must share (src/outbox/fleet.ts), as each last published them: compared by the others,
    // and the largest leg bound sizes every replica's barriers.
    name: 'fleet_settings',
    sql: `
      CREATE TABLE fleet_settings (
        replica text PRIMARY KEY,
        seen_at timestamptz NOT NULL DEFAULT now(),
        settings jsonb NOT NULL
      )`,
  },
  {
    // A side of a service that missed writes since `since` (legacy at complete, the orchestrator under the kill switch or at off again):
    // reads from it would be stale, and a repair from it would undo writes; `last_at` is the latest such write, for what
    // a repair covers (src/store/side-gaps.ts).
    name: 'side_gaps',
    sql: `
      CREATE TABLE side_gaps (
        service text NOT NULL,
        side text NOT NULL CHECK (side IN ('legacy', 'new')),
        since timestamptz NOT NULL DEFAULT now(),
        last_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (service, side)
      )`,
  },
  {
    // The furthest stage each service was served at (src/store/stages-reached.ts): past off, a write to legacy alone
    // leaves the orchestrator behind, and a replica serving an earlier stage may have had its flags reset.
    name: 'stages_reached',
    sql: `
      CREATE TABLE stages_reached (
        service text PRIMARY KEY,
        stage text NOT NULL,
        rank integer NOT NULL,
        at timestamptz NOT NULL DEFAULT now()
      )`,
  },
  {
    // Additive batches applied (src/store/once.ts): a batch whose flush was given up may have been applied late, and
    // is sent again with the same id, which the store applies once.
    name: 'batches_applied',
    sql: `
      CREATE TABLE batches_applied (
        id uuid PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX batches_applied_at ON batches_applied (at)`,
  },
  {
    // A mismatch sample's own id, drawn when it is written out: one sent again after a flush given up on (whose commit
    // the store may have completed) is not stored twice. Samples from before have none.
    name: 'mismatch_samples_uid',
    sql: `ALTER TABLE mismatch_samples ADD COLUMN uid uuid UNIQUE`,
  },
  {
    // A trip that moved no reads since legacy had missed writes: from when, for the chat line and the report.
    name: 'guard_events_legacy_behind',
    sql: `ALTER TABLE guard_events ADD COLUMN legacy_behind_since timestamptz`,
  },
  {
    // A guard event's own id, drawn when the guard acts: one stored again after an attempt given up on (the store away,
    // its insert perhaps landed) is stored once. Events from before have none.
    name: 'guard_events_uid',
    sql: `ALTER TABLE guard_events ADD COLUMN uid uuid UNIQUE`,
  },
  {
    // A resume memshift recorded for a trip whose event landed after a person's resume (src/guard/trip-record.ts): no
    // person's, so the report does not count it as one.
    name: 'guard_events_covering',
    sql: `ALTER TABLE guard_events ADD COLUMN covering boolean NOT NULL DEFAULT false`,
  },
  {
    // Set by the storer when a write's primary left its outcome unknown (src/outbox/runner.ts settled): other replicas
    // tell a copy whose primary applied it, not yet recorded, from one waiting on a look-up (OutboxTable.copying).
    name: 'outbox_primary_unknown',
    sql: `ALTER TABLE outbox ADD COLUMN primary_unknown boolean NOT NULL DEFAULT false`,
  },
  {
    // A write taken over whose outcome on its primary nothing could tell, copied as applied (src/outbox/runner.ts):
    // counted apart for the report, as the sides may differ by it until a reconciliation.
    name: 'unknown_outcomes_assumed',
    sql: `
      ALTER TABLE unknown_outcomes DROP CONSTRAINT unknown_outcomes_outcome_check;
      ALTER TABLE unknown_outcomes ADD CONSTRAINT unknown_outcomes_outcome_check CHECK (outcome IN ('seen', 'applied', 'not_applied', 'assumed'))`,
  },
];

// Arbitrary, fixed: every memshift replica must take the same lock.
const MIGRATION_LOCK = 0x6d656d73_6869667n; // "memshif"

/**
 * A statement exempt from the pool's bound on an answer (query_timeout, in node-postgres but not in its types): a
 * migration may rewrite a large table, and the lock waits for another replica's migrations.
 */
const unbounded = (text: string, values?: unknown[]): pg.QueryConfig => ({ text, ...(values ? { values } : {}), query_timeout: 2 ** 31 - 1 }) as pg.QueryConfig;

/**
 * How long a migration's statement waits for a table's lock. A statement waiting for one (held by a long transaction: a
 * backup's, a report's) makes every later statement on that table wait behind it, the other replicas' writes included,
 * for as long as the holder holds it: so it waits this long, lets go and tries again later, and the writes go on between.
 */
const LOCK_WAIT_MS = 250;
const RETRY_MAX_MS = 5_000;

/**
 * Applies the migrations not yet recorded in schema_migrations; returns the versions it applied. One whose table is held
 * by another session is tried again (see LOCK_WAIT_MS) for as long as it takes, the holders named in the log now and then.
 */
export async function migrate(pool: pg.Pool, migrations: readonly Migration[] = MIGRATIONS, onTableWait?: () => void): Promise<number[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await migrateOnce(pool, migrations);
    } catch (err) {
      if (!(err instanceof pg.DatabaseError && err.code === LOCK_NOT_AVAILABLE)) throw err;
      onTableWait?.();
      const retryMs = Math.min(RETRY_MAX_MS, LOCK_WAIT_MS * 2 ** Math.min(attempt, 5));
      if (attempt === 1 || attempt % 12 === 0) log.warn({ err, attempt, retryMs, holders: await longTransactions(pool) }, WAITING);
      await new Promise((r) => setTimeout(r, retryMs));
    }
  }
}

const LOCK_NOT_AVAILABLE = '55P03';
const WAITING =
  "a migration waits for a table another session holds (a long transaction: a backup's, a report's); tried again until it gets it, the store's other statements going on meanwhile";

/** The store's transactions open over a second, but ours: who may hold the table a migration waits for. */
async function longTransactions(pool: pg.Pool): Promise<unknown[]> {
  const { rows } = await pool
    .query(
      `SELECT pid, usename AS user, application_name, state, round(extract(epoch FROM now() - xact_start)) AS open_s, left(query, 120) AS query
       FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start < now() - interval '1 second'
       ORDER BY xact_start LIMIT 5`,
    )
    .catch(() => ({ rows: [] }));
  return rows;
}

async function migrateOnce(pool: pg.Pool, migrations: readonly Migration[]): Promise<number[]> {
  const { applied, done } = await inTransaction(pool, async (client) => {
    // A statement_timeout or lock_timeout the DBA gave the role or database (common on managed servers) would cancel a
    // migration rewriting a large table, or the wait for another replica's, at every start: bounded here as below.
    await client.query("SELECT set_config('statement_timeout', '0', true), set_config('lock_timeout', '0', true)");
    // Taken before anything else: even CREATE TABLE IF NOT EXISTS races when two sessions run it at once.
    await client.query(unbounded('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK.toString()]));
    await client.query(`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
    const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
    const done = new Set(rows.map((r) => r.version));
    await client.query("SELECT set_config('lock_timeout', $1, true)", [`${LOCK_WAIT_MS}ms`]);
    const applied: number[] = [];
    for (const [i, m] of migrations.entries()) {
      const version = i + 1;
      if (done.has(version)) continue;
      await client.query(unbounded(m.sql));
      await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [version, m.name]);
      applied.push(version);
    }
    return { applied, done };
  });
  const newer = [...done].filter((v) => v > migrations.length);
  if (newer.length) log.warn({ versions: newer }, 'database has migrations this version does not know (newer replica?)');
  if (applied.length) log.info({ applied }, 'schema migrated');
  return applied;
}
