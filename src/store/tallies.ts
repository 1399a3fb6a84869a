/**
 * Per-minute tallies of comparison figures that are not outcomes (kinds of mismatch, re-checks given up, the
 * A/A noise baseline's reads and fields): counted in memory, written as additive upserts by flush(), each batch once.
 */
import type pg from 'pg';
import { childLogger } from '../telemetry/log.js';
import { cleanText, isDataError } from './sanitize.js';
import { appliedOnce, OnceBatches } from './once.js';

const log = childLogger('store.tallies');

/** One tally's name and count per service and action, summed over a span. */
export interface TallyRow {
  service: string;
  action: string;
  tally: string;
  count: number;
}

const UPSERT = appliedOnce(
  `
  INSERT INTO comparison_tallies AS t (minute, service, action, tally, count)
  SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::bigint[])
  ON CONFLICT (minute, service, action, tally) DO UPDATE SET count = t.count + EXCLUDED.count`,
  6,
);

export class Tallies {
  private counts = new Map<string, number>();
  private flushing: Promise<void> = Promise.resolve();
  private readonly batches: OnceBatches<[string, number]>;

  constructor(
    private readonly pool: pg.Pool,
    /** Distinct minute/service/action/tally rows held while the store is unreachable; beyond it new ones are dropped. */
    private readonly maxRows = 20_000,
  ) {
    this.batches = new OnceBatches(pool, (id, batch) => {
      const parts = batch.map(([key]) => key.split('\u0000'));
      return pool.query(UPSERT, [
        parts.map((p) => new Date(Number(p[0])).toISOString()),
        parts.map((p) => p[1]),
        parts.map((p) => p[2]),
        parts.map((p) => p[3]),
        batch.map(([, n]) => n),
        id,
      ]);
    });
  }

  add(service: string, action: string, tally: string, n = 1, at = Date.now()): void {
    const key = [at - (at % 60_000), cleanText(service), cleanText(action), cleanText(tally)].join('\u0000');
    const had = this.counts.get(key);
    if (had === undefined && this.counts.size >= this.maxRows) return;
    this.counts.set(key, (had ?? 0) + n);
  }

  /** Writes what was counted so far. Never rejects: on failure the counts stay for the next flush. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.write());
    return this.flushing;
  }

  /** Every tally over [from, to) per service and action; `prefix` narrows to one family (`kind.`, `aa.`). */
  async sum(from: Date, to: Date, prefix = ''): Promise<TallyRow[]> {
    const { rows } = await this.pool.query<{ service: string; action: string; tally: string; count: string }>(
      `SELECT service, action, tally, sum(count) AS count FROM comparison_tallies
       WHERE minute >= $1 AND minute < $2 AND starts_with(tally, $3)
       GROUP BY service, action, tally ORDER BY service, action, tally`,
      [from, to, prefix],
    );
    return rows.map((r) => ({ service: r.service, action: r.action, tally: r.tally, count: Number(r.count) }));
  }

  private async write(): Promise<void> {
    try {
      await this.batches.send(() => {
        const rows = [...this.counts];
        this.counts = new Map();
        return rows;
      });
    } catch (err) {
      if (isDataError(err)) {
        log.error({ err, rows: this.batches.failedRows }, 'tallies refused by the database; dropped');
        return;
      }
      log.warn({ err }, 'tallies not flushed; kept for the next flush');
    }
  }
}
