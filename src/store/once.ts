/**
 * Additive batches (counts summed into the store) applied once each: a flush given up on (the store silent past the
 * statement bound) has an unknown outcome, since the store may still apply it, so the same batch is sent again
 * under the same id before anything newer, and the statement adds it only where the id is new (`batches_applied`).
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { isDataError } from './sanitize.js';

/**
 * Ids are kept this long. A late statement stamps its id when it is applied (the server running again), so the id
 * need outlive only the time from then to the batch's next try, seconds; a day is a wide margin and, at two batches a
 * second per replica, a table of some 170,000 small rows.
 */
const KEEP = '1 day';
const PRUNE_EVERY_MS = 3_600_000;

/**
 * `INSERT ... SELECT ... FROM unnest(...)` made to apply once per batch id (its last parameter, `$n`): the id and
 * the rows go in one statement, so either both land or neither. A second statement with the id waits for the
 * first to commit, then adds nothing.
 */
export const appliedOnce = (insert: string, n: number): string =>
  `WITH first AS (INSERT INTO batches_applied (id) VALUES ($${n}::uuid) ON CONFLICT DO NOTHING RETURNING id)
   ${insert.replace(/\bON CONFLICT\b/, 'WHERE EXISTS (SELECT FROM first) ON CONFLICT')}`;

interface Batch<T> {
  id: string;
  rows: T[];
}

export class OnceBatches<T> {
  private unsent: Batch<T> | undefined;
  private prunedAt = 0;

  constructor(
    private readonly pool: pg.Pool,
    /** Runs the batch's statement (made with appliedOnce), the id as its last parameter. */
    private readonly apply: (id: string, rows: T[]) => Promise<unknown>,
  ) {}

  /** Rows of the batch whose statement failed last (for the caller's log). */
  failedRows = 0;

  /**
   * Sends the batch given up on before (same id), then `take()`'s rows as a new batch; rejects as the statement did,
   * keeping the batch. One the database refused as data is dropped (it cannot succeed), and the rejection stands.
   */
  async send(take: () => T[]): Promise<void> {
    if (this.unsent) await this.attempt(this.unsent);
    const rows = take();
    if (rows.length) await this.attempt((this.unsent = { id: randomUUID(), rows }));
    if (Date.now() - this.prunedAt > PRUNE_EVERY_MS) {
      this.prunedAt = Date.now();
      await this.pool.query(`DELETE FROM batches_applied WHERE at < now() - interval '${KEEP}'`).catch(() => undefined);
    }
  }

  private async attempt(batch: Batch<T>): Promise<void> {
    try {
      await this.apply(batch.id, batch.rows);
      this.unsent = undefined;
    } catch (err) {
      this.failedRows = batch.rows.length;
      if (isDataError(err)) this.unsent = undefined;
      throw err;
    }
  }
}
