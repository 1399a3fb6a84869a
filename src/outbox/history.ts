/** The outbox table read over time, for the daily report: when writes were waiting, and how many are waiting or parked now. */
import type pg from 'pg';

const n = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));

export class OutboxHistory {
  constructor(private readonly pool: pg.Pool) {}

  /** The first and last minute a write was stored in [from, to); null when none was. */
  async activeMinutes(from: Date, to: Date): Promise<{ first: Date | null; last: Date | null }> {
    const { rows } = await this.pool.query<{ first: Date | null; last: Date | null }>(
      `SELECT date_trunc('minute', min(created_at)) AS first, date_trunc('minute', max(created_at)) AS last
       FROM outbox WHERE created_at >= $1 AND created_at < $2`,
      [from, to],
    );
    return rows[0] ?? { first: null, last: null };
  }

  /** Per service: writes waiting now, and parked as dead. */
  async now(): Promise<{ service: string; depth: number; dead: number }[]> {
    const { rows } = await this.pool.query(
      `SELECT service, count(*) FILTER (WHERE open)::float8 AS depth, count(*) FILTER (WHERE status = 'dead')::float8 AS dead FROM outbox GROUP BY service`,
    );
    return rows.map((r) => ({ service: String(r.service), depth: n(r.depth), dead: n(r.dead) }));
  }

  /**
   * Per service and bucket of `bucketMinutes` (from `from`): +1 for each write stored, -1 for each finished
   * (done or dead; updated_at then), before `to`. Earlier events fold into the first bucket.
   */
  async depthChanges(from: Date, to: Date, bucketMinutes: number): Promise<{ service: string; bucket: Date; delta: number }[]> {
    const { rows } = await this.pool.query(
      `SELECT service, greatest(date_bin(make_interval(mins => $3), at, $1::timestamptz), $1::timestamptz) AS bucket, sum(d)::float8 AS delta
       FROM (SELECT service, created_at AS at, 1 AS d FROM outbox WHERE created_at < $2
             UNION ALL
             SELECT service, updated_at, -1 FROM outbox WHERE status IN ('done', 'dead') AND updated_at < $2) e
       GROUP BY 1, 2`,
      [from, to, bucketMinutes],
    );
    return rows.map((r) => ({ service: String(r.service), bucket: r.bucket as Date, delta: n(r.delta) }));
  }
}
