/**
 * Reconciliation runs in the state store (tables reconcile_runs, reconcile_differences): written as a
 * run goes (checkpoints, differences), read back to resume it and by the daily report.
 */
import type pg from 'pg';
import type { FieldDiff } from '../comparison/compare.js';
import type { ServiceName } from '../services/registry.js';
import { atRestParts, type ValuesAtRest } from '../store/at-rest.js';
import { redactDiff, type Redact } from '../util/redact.js';
import { jsonText } from '../store/sanitize.js';

type DifferenceKind = 'missing_in_new' | 'missing_in_legacy' | 'differing';

export interface Difference {
  key: string;
  kind: DifferenceKind;
  /** Field diffs (legacy vs new values) of a differing record; [] for a missing one. */
  diffs: FieldDiff[];
  /** Set once a repair was tried: whether the key then compared equal. */
  repaired?: boolean;
  /** Why a repair tried did not make it so (a RepairError's words: the side's protocol cannot express the change). */
  unrepaired?: string;
  /** Repaired by giving the truth's side the other side's order, which that side's protocol could not change. */
  reordered?: boolean;
  /** Repaired by giving the truth's side this many writes at the other side's end whose copies to it were parked (parked.ts). */
  settled?: number;
  /** Its key still had writes queued towards the secondary when the run ended: it may yet come alike. */
  queued?: boolean;
}

export type RunTrigger = 'manual' | 'scheduled' | 'backfill';

/** A row of reconcile_runs, as the report reads it. */
export interface ReconcileRun {
  id: number;
  service: ServiceName;
  trigger: RunTrigger;
  stage: string | null;
  truth: 'legacy' | 'new';
  repair: boolean;
  status: 'running' | 'done' | 'failed';
  startedAt: Date;
  finishedAt: Date | null;
  checkpointKey: string | null;
  legacyRecords: number;
  newRecords: number;
  missingInNew: number;
  missingInLegacy: number;
  differing: number;
  /** Found different, then equal when re-checked at the end of the run (a write was in flight). */
  converged: number;
  repaired: number;
  repairFailed: number;
  /** Differences left whose keys still had writes queued towards the secondary at the end (Difference.queued). */
  queued: number;
  rangesChecked: number;
  recordsFetched: number;
  /** Orchestrator elements beyond the legacy service's retention: kept history, not differences. */
  retained: number;
  /** The first differences, with their field diffs (values as stored: redact before showing). */
  sampleDiffs: Difference[];
  error: string | null;
}

const RUN_COLUMNS = `id::float8 AS id, service, trigger, stage, truth, repair, status, started_at AS "startedAt", finished_at AS "finishedAt",
  checkpoint_key AS "checkpointKey", legacy_records::float8 AS "legacyRecords", new_records::float8 AS "newRecords",
  missing_in_new AS "missingInNew", missing_in_legacy AS "missingInLegacy", differing, converged, repaired,
  repair_failed AS "repairFailed", queued, ranges_checked AS "rangesChecked", records_fetched AS "recordsFetched", retained::float8 AS retained,
  sample_diffs AS "sampleDiffs", error`;

/** Progress made since the last checkpoint, added to the run's totals. */
export interface RunProgress {
  checkpointKey: string | null;
  legacyRecords: number;
  newRecords: number;
  rangesChecked: number;
  recordsFetched: number;
}

export interface RunOutcome {
  status: 'done' | 'failed';
  converged: number;
  repaired: number;
  repairFailed: number;
  sampleSize: number;
  retained?: number;
  error?: string;
}

export class ReconcileRuns {
  /** Undefined when full values are kept (then for retentionMs only). */
  private readonly redact: Redact | undefined;
  private readonly retentionMs: number | undefined;

  constructor(
    private readonly pool: pg.Pool | pg.PoolClient,
    atRest?: ValuesAtRest,
  ) {
    ({ redact: this.redact, retentionMs: this.retentionMs } = atRestParts(atRest));
  }

  async start(service: ServiceName, fields: { trigger: RunTrigger; stage: string | null; truth: 'legacy' | 'new'; repair: boolean }): Promise<ReconcileRun> {
    if (this.retentionMs !== undefined) await this.forgetValues(this.retentionMs);
    const { rows } = await this.pool.query<ReconcileRun>(
      `INSERT INTO reconcile_runs (service, trigger, stage, truth, repair) VALUES ($1, $2, $3, $4, $5) RETURNING ${RUN_COLUMNS}`,
      [service, fields.trigger, fields.stage, fields.truth, fields.repair],
    );
    return rows[0]!;
  }

  /** The service's run left unfinished by a process that died (call under the service's run lock). */
  async unfinished(service: ServiceName): Promise<ReconcileRun | undefined> {
    const { rows } = await this.pool.query<ReconcileRun>(
      `SELECT ${RUN_COLUMNS} FROM reconcile_runs WHERE service = $1 AND status = 'running' ORDER BY id DESC LIMIT 1`,
      [service],
    );
    return rows[0];
  }

  /** Records differences found up to a checkpoint, and the checkpoint, atomically enough: differences first. */
  async checkpoint(runId: number, found: readonly Difference[], p: RunProgress): Promise<void> {
    if (found.length) await this.saveDifferences(runId, found);
    await this.pool.query(
      `UPDATE reconcile_runs SET checkpoint_key = $2, legacy_records = legacy_records + $3, new_records = new_records + $4,
         ranges_checked = ranges_checked + $5, records_fetched = records_fetched + $6 WHERE id = $1`,
      [runId, p.checkpointKey, p.legacyRecords, p.newRecords, p.rangesChecked, p.recordsFetched],
    );
  }

  /** Full values of runs older than `ms` deleted: their differences' field diffs and their samples. */
  private async forgetValues(ms: number): Promise<void> {
    await this.pool.query(
      `WITH old AS (SELECT id FROM reconcile_runs WHERE started_at < now() - $1 * interval '1 millisecond')
       UPDATE reconcile_differences SET diffs = '[]' WHERE run_id IN (SELECT id FROM old) AND diffs <> '[]'`,
      [ms],
    );
    await this.pool.query(`UPDATE reconcile_runs SET sample_diffs = '[]' WHERE started_at < now() - $1 * interval '1 millisecond' AND sample_diffs <> '[]'`, [
      ms,
    ]);
  }

  async saveDifferences(runId: number, found: readonly Difference[]): Promise<void> {
    const redact = this.redact;
    const diffsOf = (d: Difference) => (redact ? d.diffs.map((f) => redactDiff(f, redact)) : d.diffs);
    await this.pool.query(
      `INSERT INTO reconcile_differences (run_id, key, kind, diffs, repaired)
       SELECT $1, k, d, f::jsonb, r FROM unnest($2::text[], $3::text[], $4::text[], $5::boolean[]) AS x(k, d, f, r)
       ON CONFLICT (run_id, key) DO UPDATE SET kind = excluded.kind, diffs = excluded.diffs, repaired = excluded.repaired`,
      [runId, found.map((d) => d.key), found.map((d) => d.kind), found.map((d) => jsonText(diffsOf(d))), found.map((d) => d.repaired ?? null)],
    );
  }

  async forgetDifferences(runId: number, keys: readonly string[]): Promise<void> {
    if (keys.length) await this.pool.query('DELETE FROM reconcile_differences WHERE run_id = $1 AND key = ANY($2::text[])', [runId, keys]);
  }

  /** Marks the run's differences of `keys` as queued (Difference.queued). */
  async markQueued(runId: number, keys: readonly string[]): Promise<void> {
    if (keys.length) await this.pool.query('UPDATE reconcile_differences SET queued = true WHERE run_id = $1 AND key = ANY($2::text[])', [runId, keys]);
  }

  async differences(runId: number): Promise<Difference[]> {
    const { rows } = await this.pool.query<Difference & { repaired: boolean | null; queued: boolean }>(
      'SELECT key, kind, diffs, repaired, queued FROM reconcile_differences WHERE run_id = $1 ORDER BY key COLLATE "C"',
      [runId],
    );
    return rows.map(({ repaired, queued, ...d }) => ({ ...d, ...(repaired === null ? {} : { repaired }), ...(queued ? { queued } : {}) }));
  }

  /** Closes a run: its counts by kind are the differences left in its table. */
  async finish(runId: number, o: RunOutcome): Promise<ReconcileRun> {
    const { rows } = await this.pool.query<ReconcileRun>(
      `WITH d AS (SELECT * FROM reconcile_differences WHERE run_id = $1)
       UPDATE reconcile_runs SET status = $2, finished_at = now(), converged = $3, repaired = $4, repair_failed = $5, error = $6, retained = $8,
         missing_in_new = (SELECT count(*) FROM d WHERE kind = 'missing_in_new'),
         missing_in_legacy = (SELECT count(*) FROM d WHERE kind = 'missing_in_legacy'),
         differing = (SELECT count(*) FROM d WHERE kind = 'differing'),
         queued = (SELECT count(*) FROM d WHERE queued),
         sample_diffs = coalesce((SELECT jsonb_agg(jsonb_build_object('key', key, 'kind', kind, 'diffs', diffs, 'repaired', repaired, 'queued', queued) ORDER BY key)
                                  FROM (SELECT * FROM d ORDER BY key LIMIT $7) s), '[]')
       WHERE id = $1 RETURNING ${RUN_COLUMNS}`,
      [runId, o.status, o.converged, o.repaired, o.repairFailed, o.error ?? null, o.sampleSize, o.retained ?? 0],
    );
    return rows[0]!;
  }
}

/** Runs for the report: the runs started in [from, to), newest first, optionally of one service or trigger. */
export async function listReconcileRuns(
  pool: pg.Pool,
  opts: { service?: ServiceName; trigger?: RunTrigger; from?: Date; to?: Date; limit?: number } = {},
): Promise<ReconcileRun[]> {
  const { rows } = await pool.query<ReconcileRun>(
    `SELECT ${RUN_COLUMNS} FROM reconcile_runs
     WHERE ($1::text IS NULL OR service = $1) AND ($2::timestamptz IS NULL OR started_at >= $2) AND ($3::timestamptz IS NULL OR started_at < $3)
       AND ($5::text IS NULL OR trigger = $5)
     ORDER BY started_at DESC, id DESC LIMIT $4`,
    [opts.service ?? null, opts.from ?? null, opts.to ?? null, opts.limit ?? 100, opts.trigger ?? null],
  );
  return rows;
}
