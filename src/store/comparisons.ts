/**
 * Comparison outcome counts: aggregated in memory per minute, service, action and outcome, and written
 * as additive upserts by flush(). Recording never touches the database, so it never fails or waits.
 */
import type pg from 'pg';
import { childLogger } from '../telemetry/log.js';
import { OUTCOMES } from './migrations.js';
import { cleanText, isDataError } from './sanitize.js';
import { appliedOnce, OnceBatches } from './once.js';

const log = childLogger('store.comparisons');

export type Outcome = (typeof OUTCOMES)[number];

export interface ComparisonRecord {
  service: string;
  action: string;
  outcome: Outcome;
  /** Reads this record stands for (a re-check covers every skipped read of the same request); default 1. */
  count?: number;
  legacyMs?: number;
  newMs?: number;
  at?: Date;
}

export interface CountsRow {
  /** Every recorded request, skipped ones included (a re-check is not another request). */
  requests: number;
  /** Requests where both sides replied: match + mismatch, at once or re-checked. */
  compared: number;
  match: number;
  mismatch: number;
  legacyError: number;
  newError: number;
  skipped: number;
  /** Skipped reads compared later, once their key's writes had settled (within compared). */
  rechecked: number;
  /** mismatch / compared; 0 when nothing was compared. */
  mismatchRate: number;
  legacyAvgMs: number | null;
  legacyMaxMs: number | null;
  newAvgMs: number | null;
  newMaxMs: number | null;
}

export interface SummaryRow extends CountsRow {
  service: string;
  action: string;
}

export interface SeriesRow extends CountsRow {
  minute: Date;
}

interface Bucket {
  minute: number;
  service: string;
  action: string;
  outcome: Outcome;
  count: number;
  legacyN: number;
  legacySum: number;
  legacyMax: number;
  newN: number;
  newSum: number;
  newMax: number;
}

const VALID_OUTCOMES: ReadonlySet<string> = new Set(OUTCOMES);

export class ComparisonCounts {
  private buckets = new Map<string, Bucket>();
  private flushing: Promise<void> = Promise.resolve();
  private readonly batches: OnceBatches<Bucket>;
  private failing = false;
  private dropped = 0;

  constructor(
    private readonly pool: pg.Pool,
    /** Buckets held while the database is unreachable; beyond it the oldest minutes are dropped. */
    private readonly maxBuckets = 20_000,
  ) {
    this.batches = new OnceBatches(pool, (id, batch) =>
      pool.query(UPSERT, [
        batch.map((b) => new Date(b.minute).toISOString()),
        batch.map((b) => b.service),
        batch.map((b) => b.action),
        batch.map((b) => b.outcome),
        batch.map((b) => b.count),
        batch.map((b) => b.legacyN),
        batch.map((b) => b.legacySum),
        batch.map((b) => b.legacyMax),
        batch.map((b) => b.newN),
        batch.map((b) => b.newSum),
        batch.map((b) => b.newMax),
        id,
      ]),
    );
  }

  record(r: ComparisonRecord): void {
    // A bad row would fail every later flush of the batch it sits in, so it never gets in.
    if (!VALID_OUTCOMES.has(r.outcome) || typeof r.service !== 'string' || typeof r.action !== 'string') {
      log.warn({ service: r.service, action: r.action, outcome: r.outcome }, 'comparison record ignored: bad fields');
      return;
    }
    const at = r.at?.getTime() ?? Date.now();
    const minute = Number.isFinite(at) ? at - (at % 60_000) : Date.now() - (Date.now() % 60_000);
    const b = this.bucket(minute, cleanText(r.service), cleanText(r.action), r.outcome);
    b.count += r.count !== undefined && Number.isInteger(r.count) && r.count > 0 ? r.count : 1;
    if (isLatency(r.legacyMs)) {
      b.legacyN += 1;
      b.legacySum += r.legacyMs;
      b.legacyMax = Math.max(b.legacyMax, r.legacyMs);
    }
    if (isLatency(r.newMs)) {
      b.newN += 1;
      b.newSum += r.newMs;
      b.newMax = Math.max(b.newMax, r.newMs);
    }
  }

  /** Writes everything recorded so far. Never rejects: on failure the counts stay for the next flush. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.write());
    return this.flushing;
  }

  /** Totals per service and action over [since, until), from what has been flushed. */
  async summary(q: { since?: Date; until?: Date; service?: string } = {}): Promise<SummaryRow[]> {
    const { rows } = await this.pool.query(
      `SELECT service, action, ${COUNT_AGGREGATES}
       FROM comparison_counts
       WHERE ($1::timestamptz IS NULL OR minute >= $1) AND ($2::timestamptz IS NULL OR minute < $2)
         AND ($3::text IS NULL OR service = $3)
       GROUP BY service, action
       ORDER BY service, action`,
      [q.since ?? null, q.until ?? null, q.service ?? null],
    );
    return rows.map((r) => ({ service: r.service, action: r.action, ...countsOf(r) }));
  }

  /** The first and last minute with counts in [from, to); null when there are none. */
  async activeMinutes(from: Date, to: Date): Promise<{ first: Date | null; last: Date | null }> {
    const { rows } = await this.pool.query<{ first: Date | null; last: Date | null }>(
      `SELECT min(minute) AS first, max(minute) AS last FROM comparison_counts WHERE minute >= $1 AND minute < $2`,
      [from, to],
    );
    return rows[0] ?? { first: null, last: null };
  }

  /** Totals per service over [from, to). */
  async byService(from: Date, to: Date): Promise<Map<string, CountsRow>> {
    const { rows } = await this.pool.query(`SELECT service, ${COUNT_AGGREGATES} FROM comparison_counts WHERE minute >= $1 AND minute < $2 GROUP BY service`, [
      from,
      to,
    ]);
    return new Map(rows.map((r) => [String(r.service), countsOf(r)]));
  }

  /** Totals per service and bucket of `bucketMinutes` (buckets counted from `from`), buckets with traffic only. */
  async byBucket(from: Date, to: Date, bucketMinutes: number): Promise<{ service: string; bucket: Date; counts: CountsRow }[]> {
    const { rows } = await this.pool.query(
      `SELECT service, date_bin(make_interval(mins => $3), minute, $1::timestamptz) AS bucket, ${COUNT_AGGREGATES}
       FROM comparison_counts WHERE minute >= $1 AND minute < $2 GROUP BY 1, 2 ORDER BY 1, 2`,
      [from, to, bucketMinutes],
    );
    return rows.map((r) => ({ service: String(r.service), bucket: r.bucket as Date, counts: countsOf(r) }));
  }

  /** One row per minute with traffic in [since, until), all actions of the service (or one) together. */
  async series(q: { service: string; since: Date; until: Date; action?: string }): Promise<SeriesRow[]> {
    const { rows } = await this.pool.query(
      `SELECT minute, ${COUNT_AGGREGATES}
       FROM comparison_counts
       WHERE service = $1 AND minute >= $2 AND minute < $3 AND ($4::text IS NULL OR action = $4)
       GROUP BY minute
       ORDER BY minute`,
      [q.service, q.since, q.until, q.action ?? null],
    );
    return rows.map((r) => ({ minute: r.minute as Date, ...countsOf(r) }));
  }

  private bucket(minute: number, service: string, action: string, outcome: Outcome): Bucket {
    const key = `${minute}\u0000${service}\u0000${action}\u0000${outcome}`;
    let b = this.buckets.get(key);
    if (!b) {
      b = { minute, service, action, outcome, count: 0, legacyN: 0, legacySum: 0, legacyMax: 0, newN: 0, newSum: 0, newMax: 0 };
      this.buckets.set(key, b);
      if (this.buckets.size > this.maxBuckets) this.dropOldest();
    }
    return b;
  }

  private async write(): Promise<void> {
    try {
      await this.batches.send(() => {
        const rows = [...this.buckets.values()];
        this.buckets = new Map();
        return rows;
      });
      if (this.failing) log.info({ dropped: this.dropped }, 'comparison counts flushing again');
      this.failing = false;
      this.dropped = 0;
    } catch (err) {
      if (isDataError(err)) {
        log.error({ err, buckets: this.batches.failedRows }, 'comparison counts refused by the database; dropped');
        return;
      }
      if (!this.failing) log.warn({ err }, 'comparison counts not flushed; kept for the next flush');
      this.failing = true;
    }
  }

  private dropOldest(): void {
    let oldest: [string, Bucket] | undefined;
    for (const entry of this.buckets) if (!oldest || entry[1].minute < oldest[1].minute) oldest = entry;
    if (!oldest) return;
    this.buckets.delete(oldest[0]);
    this.dropped += oldest[1].count;
  }
}

const isLatency = (ms: unknown): ms is number => typeof ms === 'number' && Number.isFinite(ms) && ms >= 0;

const UPSERT = appliedOnce(
  `
  INSERT INTO comparison_counts AS c (minute, service, action, outcome, count,
    legacy_ms_count, legacy_ms_sum, legacy_ms_max, new_ms_count, new_ms_sum, new_ms_max)
  SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::bigint[],
    $6::bigint[], $7::float8[], $8::float8[], $9::bigint[], $10::float8[], $11::float8[])
  ON CONFLICT (minute, service, action, outcome) DO UPDATE SET
    count = c.count + EXCLUDED.count,
    legacy_ms_count = c.legacy_ms_count + EXCLUDED.legacy_ms_count,
    legacy_ms_sum = c.legacy_ms_sum + EXCLUDED.legacy_ms_sum,
    legacy_ms_max = GREATEST(c.legacy_ms_max, EXCLUDED.legacy_ms_max),
    new_ms_count = c.new_ms_count + EXCLUDED.new_ms_count,
    new_ms_sum = c.new_ms_sum + EXCLUDED.new_ms_sum,
    new_ms_max = GREATEST(c.new_ms_max, EXCLUDED.new_ms_max)`,
  12,
);

/** Per group of comparison_counts rows: the counts by outcome and the latency figures (the report groups them its own way). */
const COUNT_AGGREGATES = `
  sum(count) FILTER (WHERE outcome NOT IN ('recheck_match', 'recheck_mismatch')) AS requests,
  sum(count) FILTER (WHERE outcome IN ('match', 'mismatch', 'recheck_match', 'recheck_mismatch')) AS compared,
  sum(count) FILTER (WHERE outcome IN ('match', 'recheck_match')) AS match,
  sum(count) FILTER (WHERE outcome IN ('mismatch', 'recheck_mismatch')) AS mismatch,
  sum(count) FILTER (WHERE outcome IN ('recheck_match', 'recheck_mismatch')) AS rechecked,
  sum(count) FILTER (WHERE outcome = 'legacy_error') AS legacy_error,
  sum(count) FILTER (WHERE outcome = 'new_error') AS new_error,
  sum(count) FILTER (WHERE outcome = 'skipped') AS skipped,
  sum(legacy_ms_sum) / nullif(sum(legacy_ms_count), 0) AS legacy_avg_ms,
  max(legacy_ms_max) FILTER (WHERE legacy_ms_count > 0) AS legacy_max_ms,
  sum(new_ms_sum) / nullif(sum(new_ms_count), 0) AS new_avg_ms,
  max(new_ms_max) FILTER (WHERE new_ms_count > 0) AS new_max_ms`;

type AggregateRow = Record<string, string | number | null>;

const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function countsOf(r: AggregateRow): CountsRow {
  const compared = num(r.compared);
  const mismatch = num(r.mismatch);
  return {
    requests: num(r.requests),
    compared,
    match: num(r.match),
    mismatch,
    legacyError: num(r.legacy_error),
    newError: num(r.new_error),
    skipped: num(r.skipped),
    rechecked: num(r.rechecked),
    mismatchRate: compared ? mismatch / compared : 0,
    legacyAvgMs: numOrNull(r.legacy_avg_ms),
    legacyMaxMs: numOrNull(r.legacy_max_ms),
    newAvgMs: numOrNull(r.new_avg_ms),
    newMaxMs: numOrNull(r.new_max_ms),
  };
}
