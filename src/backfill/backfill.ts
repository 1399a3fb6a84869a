/**
 * The backfill: every legacy record copied into the orchestrator through the translators, in batches of
 * keys. Idempotent: each key is compared with what the orchestrator already holds (the translators find
 * its session through the id map) and only what is missing is written, so a batch cut short by a crash is
 * completed, never duplicated. A checkpoint after each batch lets a new run resume; pacing keeps the
 * orchestrator's load bounded. It ends with a reconciliation of the keys it went through.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { ServiceName } from '../services/registry.js';
import type { CanonicalRecord } from '../services/records.js';
import type { LegacyIndex } from '../reconcile/legacy-index.js';
import { scanRecords, type RecordSource } from '../reconcile/source.js';
import { childLogger } from '../telemetry/log.js';
import type { Progress } from './progress.js';
import { reconcile, type ReconcileResult, type ReconcileTuning } from '../reconcile/reconcile.js';
import { mapLimit, RateLimiter } from '../reconcile/pace.js';
import { syncKey, type SideWriter } from '../reconcile/repair.js';

const log = childLogger('backfill');

interface BackfillCheckpoint {
  /** The last key of the last finished batch. */
  after: string;
  keys: number;
  writes: number;
}

export interface BackfillOptions {
  service: ServiceName;
  /** The state store (checkpoints, reconcile_runs). */
  pool: pg.Pool;
  legacy: LegacyIndex;
  new: RecordSource;
  /** The orchestrator's write path (the service's translator). */
  writer: SideWriter;
  batchSize: number;
  /** Writes per second on average; 0: unlimited. */
  recordsPerSecond: number;
  concurrency: number;
  progress?: (total: number, startDone: number) => Progress;
  /** Stops after the current batch (its checkpoint written). */
  signal?: AbortSignal;
  /** Tuning of the closing reconciliation. */
  reconcileTuning?: Partial<ReconcileTuning>;
}

export interface BackfillResult {
  keys: number;
  writes: number;
  /** True when it went through every legacy key (not stopped). */
  complete: boolean;
  resumedAfter?: string;
  reconcile?: ReconcileResult;
}

const checkpointName = (service: ServiceName) => `backfill:${service}`;
const ATTEMPTS = 3;

async function readCheckpoint(pool: pg.Pool, service: ServiceName): Promise<BackfillCheckpoint | undefined> {
  const { rows } = await pool.query<{ value: BackfillCheckpoint }>('SELECT value FROM checkpoints WHERE name = $1', [checkpointName(service)]);
  return rows[0]?.value;
}

async function writeCheckpoint(pool: pg.Pool, service: ServiceName, value: BackfillCheckpoint): Promise<void> {
  await pool.query(
    `INSERT INTO checkpoints (name, value, updated_at) VALUES ($1, $2, now())
     ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = now()`,
    [checkpointName(service), JSON.stringify(value)],
  );
}

/** A key's copy, retried on transient failures (a timeout may have left it half written: the retry completes it). */
async function copyKey(opts: BackfillOptions, record: CanonicalRecord, current: CanonicalRecord | undefined): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await syncKey(opts.service, record.key, record, current, opts.writer);
    } catch (err) {
      if (attempt >= ATTEMPTS) throw err;
      log.warn({ service: opts.service, key: record.key, attempt, err }, 'copying a key failed; retrying');
      await sleep(200 * attempt);
      [current] = await opts.new.recordsOf([record.key]);
    }
  }
}

export async function backfill(opts: BackfillOptions): Promise<BackfillResult> {
  const { service, pool } = opts;
  const resumed = await readCheckpoint(pool, service);
  let keys = resumed?.keys ?? 0;
  let writes = resumed?.writes ?? 0;
  if (resumed) log.info({ service, after: resumed.after, keys }, 'resuming the backfill from its checkpoint');
  const progress = opts.progress?.(opts.legacy.size, keys);
  const limiter = new RateLimiter(opts.recordsPerSecond);
  let stopped = false;
  for await (const batch of scanRecords(opts.legacy, {}, opts.batchSize, resumed?.after)) {
    const current = new Map((await opts.new.recordsOf(batch.map((r) => r.key))).map((r) => [r.key, r]));
    await mapLimit(batch, opts.concurrency, async (record) => {
      const sent = await copyKey(opts, record, current.get(record.key));
      writes += sent;
      keys++;
      progress?.update(keys, writes);
      await limiter.take(sent);
    });
    await writeCheckpoint(pool, service, { after: batch.at(-1)!.key, keys, writes });
    if (opts.signal?.aborted) {
      stopped = true;
      break;
    }
  }
  progress?.finish(keys, writes);
  if (stopped) return { keys, writes, complete: false, ...(resumed ? { resumedAfter: resumed.after } : {}) };
  // Done: the next backfill is a fresh (idempotent) pass that picks up what legacy gained meanwhile.
  await pool.query('DELETE FROM checkpoints WHERE name = $1', [checkpointName(service)]);
  const result = await reconcile({
    service,
    pool,
    sides: { legacy: opts.legacy, new: opts.new },
    truth: 'legacy',
    trigger: 'backfill',
    ...(opts.reconcileTuning ? { tuning: opts.reconcileTuning } : {}),
  });
  return { keys, writes, complete: true, ...(resumed ? { resumedAfter: resumed.after } : {}), reconcile: result };
}
