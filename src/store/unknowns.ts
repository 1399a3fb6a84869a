/** Unknown outcomes per minute (migration unknown_outcomes): recorded as they happen (they are rare), summed per day for the report. */
import type pg from 'pg';
import { childLogger } from '../telemetry/log.js';

const log = childLogger('store.unknowns');

/** One unknown outcome as counted: which service and side, and whether that side was the write's primary. */
interface UnknownOutcome {
  service: string;
  side: string;
  role: string;
}

const UPSERT = `INSERT INTO unknown_outcomes (minute, service, side, role, outcome, count, resolve_ms_sum, resolve_ms_max)
  VALUES (date_trunc('minute', now()), $1, $2, $3, $4, 1, $5, $5)
  ON CONFLICT (minute, service, side, role, outcome) DO UPDATE SET
    count = unknown_outcomes.count + 1,
    resolve_ms_sum = unknown_outcomes.resolve_ms_sum + EXCLUDED.resolve_ms_sum,
    resolve_ms_max = greatest(unknown_outcomes.resolve_ms_max, EXCLUDED.resolve_ms_max)`;

/** One service's unknown outcomes over a span: how many, how look-ups settled them, and how long that took. */
export interface UnknownFigures {
  seen: number;
  applied: number;
  notApplied: number;
  /** Writes taken over whose outcome on their primary nothing could tell, copied as applied: the sides may differ by them. */
  assumed: number;
  /** The minute of the last of them (ISO), null when none. */
  lastAssumedAt: string | null;
  meanResolveMs: number | null;
  maxResolveMs: number | null;
}

export class UnknownOutcomes {
  constructor(private readonly pool: pg.Pool) {}

  seen(e: UnknownOutcome): void {
    this.upsert(e, 'seen', 0);
  }

  resolved(e: UnknownOutcome & { applied: boolean; assumed?: boolean; resolveMs: number }): void {
    this.upsert(e, e.assumed ? 'assumed' : e.applied ? 'applied' : 'not_applied', e.resolveMs);
  }

  private upsert(e: UnknownOutcome, outcome: string, ms: number): void {
    // Bookkeeping: a store that is down loses the count, never the write it counts.
    this.pool.query(UPSERT, [e.service, e.side, e.role, outcome, ms]).catch((err: unknown) => log.warn({ err }, 'unknown outcome not counted'));
  }

  async figures(from: Date, to: Date): Promise<Map<string, UnknownFigures>> {
    const { rows } = await this.pool.query<{
      service: string;
      seen: number;
      applied: number;
      not_applied: number;
      assumed: number;
      last_assumed: Date | null;
      ms_sum: number;
      ms_max: number | null;
    }>(
      `SELECT service,
              coalesce(sum(count) FILTER (WHERE outcome = 'seen'), 0)::float8 AS seen,
              coalesce(sum(count) FILTER (WHERE outcome = 'applied'), 0)::float8 AS applied,
              coalesce(sum(count) FILTER (WHERE outcome = 'not_applied'), 0)::float8 AS not_applied,
              coalesce(sum(count) FILTER (WHERE outcome = 'assumed'), 0)::float8 AS assumed,
              max(minute) FILTER (WHERE outcome = 'assumed') AS last_assumed,
              coalesce(sum(resolve_ms_sum) FILTER (WHERE outcome IN ('applied', 'not_applied')), 0)::float8 AS ms_sum,
              max(resolve_ms_max) FILTER (WHERE outcome IN ('applied', 'not_applied'))::float8 AS ms_max
       FROM unknown_outcomes WHERE minute >= $1 AND minute < $2 GROUP BY service`,
      [from, to],
    );
    return new Map(
      rows.map((r) => {
        const resolved = r.applied + r.not_applied;
        return [
          r.service,
          {
            seen: r.seen,
            applied: r.applied,
            notApplied: r.not_applied,
            assumed: r.assumed,
            lastAssumedAt: r.last_assumed?.toISOString() ?? null,
            meanResolveMs: resolved ? r.ms_sum / resolved : null,
            maxResolveMs: r.ms_max,
          },
        ];
      }),
    );
  }
}
