/**
 * How long the state store keeps the figures it gathers by the minute (comparison counts, tallies, unknown outcomes)
 * and the differences of finished reconciliation runs: a migration runs for months, and each of these grows with
 * time. What the days' reports say is kept (table reports); so are the runs' totals, guard events and operators' actions.
 */
import type pg from 'pg';

/** Rows one statement deletes at most: a first purge of months of figures holds no lock for long. */
const BATCH = 10_000;

/** The per-minute tables and their time column. */
const BY_MINUTE = ['comparison_counts', 'comparison_tallies', 'unknown_outcomes'] as const;

export type PurgedTable = (typeof BY_MINUTE)[number] | 'reconcile_differences';

/** The first UTC day whose figures are kept: `days` whole days before `now`'s day. */
export function keptFrom(now: Date, days: number): Date {
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  return new Date(today - days * 86_400_000);
}

/**
 * Deletes the per-minute figures from before `before`, and the differences of finished runs started before it (a
 * running run resumes from its own); returns the rows deleted per table. Safe to run on every replica at once; `stopped`
 * is asked between statements (the rest waits for the next purge).
 */
export async function purgeBefore(pool: pg.Pool, before: Date, stopped: () => boolean = () => false): Promise<Record<PurgedTable, number>> {
  const deleted = {} as Record<PurgedTable, number>;
  // A statement deleting fewer than BATCH rows found the last of them (or met another replica's purge, which goes on).
  const inBatches = async (sql: string): Promise<number> => {
    let total = 0;
    while (!stopped()) {
      const n = (await pool.query(sql, [before])).rowCount ?? 0;
      total += n;
      if (n < BATCH) break;
    }
    return total;
  };
  for (const table of BY_MINUTE)
    deleted[table] = await inBatches(`DELETE FROM ${table} WHERE ctid IN (SELECT ctid FROM ${table} WHERE minute < $1 LIMIT ${BATCH})`);
  deleted.reconcile_differences = await inBatches(
    `DELETE FROM reconcile_differences WHERE ctid IN (
       SELECT d.ctid FROM reconcile_differences d JOIN reconcile_runs r ON r.id = d.run_id
       WHERE r.started_at < $1 AND r.status <> 'running' LIMIT ${BATCH})`,
  );
  return deleted;
}
