/**
 * The guard across replicas sharing one store: each publishes its window's buckets (guard_buckets) and sums
 * the others' over the same window, so a fleet reaches the minimum samples together; and each follows the
 * rollbacks the others record (guard_events.replica), with or without an Unleash admin token.
 */
import type pg from 'pg';
import { Counts, type Bucket } from './window.js';

export class GuardFleet {
  constructor(
    private readonly pool: pg.Pool,
    /** This replica's name in the fleet. */
    readonly replica: string,
  ) {}

  /**
   * Replaces this replica's counts of the given buckets. A bucket's counts only grow until it closes, so counts
   * smaller than those stored are an earlier publish applied late (given up at the statement bound, the store still
   * holding it) and are not put over the newer ones.
   */
  async publish(service: string, buckets: readonly Bucket[]): Promise<void> {
    // One statement per bucket (a sync publishes the current bucket and the one before it).
    for (const b of buckets) {
      await this.pool.query(
        `INSERT INTO guard_buckets AS g (service, replica, epoch, compared, mismatches, new_calls, new_errors, latency_pairs, legacy_hist, new_hist)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (service, epoch, replica) DO UPDATE SET compared = EXCLUDED.compared, mismatches = EXCLUDED.mismatches,
           new_calls = EXCLUDED.new_calls, new_errors = EXCLUDED.new_errors, latency_pairs = EXCLUDED.latency_pairs,
           legacy_hist = EXCLUDED.legacy_hist, new_hist = EXCLUDED.new_hist
         WHERE g.compared <= EXCLUDED.compared AND g.new_calls <= EXCLUDED.new_calls AND g.latency_pairs <= EXCLUDED.latency_pairs`,
        [service, this.replica, b.epoch, b.compared, b.mismatches, b.newCalls, b.newErrors, b.latencyPairs, [...b.legacy], [...b.new]],
      );
    }
  }

  /** The other replicas' counts of the service from `fromEpoch` on; undefined when none has any. */
  async peers(service: string, fromEpoch: number): Promise<Counts | undefined> {
    const { rows } = await this.pool.query<{
      compared: string;
      mismatches: string;
      new_calls: string;
      new_errors: string;
      latency_pairs: string;
      legacy_hist: number[];
      new_hist: number[];
    }>(`SELECT * FROM guard_buckets WHERE service = $1 AND epoch >= $2 AND replica <> $3`, [service, fromEpoch, this.replica]);
    if (!rows.length) return undefined;
    const sum = new Counts();
    for (const r of rows) {
      const c = new Counts();
      c.compared = Number(r.compared);
      c.mismatches = Number(r.mismatches);
      c.newCalls = Number(r.new_calls);
      c.newErrors = Number(r.new_errors);
      c.latencyPairs = Number(r.latency_pairs);
      c.legacy.set(r.legacy_hist.slice(0, c.legacy.length));
      c.new.set(r.new_hist.slice(0, c.new.length));
      sum.merge(c, 1);
    }
    return sum;
  }

  /**
   * Drops this replica's buckets older than `epoch` (out of every window), and any replica's a window before that: a
   * replica gone (scaled down, killed, each pod a new name) prunes its own no more, and a fleet that lives for months
   * would keep every one. The extra window leaves a replica whose clock runs behind its own buckets.
   */
  async prune(epoch: number, windowBuckets: number): Promise<void> {
    await this.pool.query(`DELETE FROM guard_buckets WHERE epoch < $2 AND (replica = $1 OR epoch < $2 - $3::bigint)`, [this.replica, epoch, windowBuckets]);
  }
}
