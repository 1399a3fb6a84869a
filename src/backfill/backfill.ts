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
import { DEFAULT_TUNING, reconcile, type ReconcileResult, type ReconcileTuning } from '../reconcile/reconcile.js';
import { mapLimit, RateLimiter } from '../reconcile/pace.js';
import { syncHeld, type HeldSync, type SideWriter } from '../reconcile/repair.js';
import { KeyHolds, KeyStillWritten, MayStillLand } from '../outbox/hold.js';

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
  /** Asked before each batch: a reason not to write the orchestrator (any more) stops the backfill there. */
  refusal?: () => string | undefined;
  /** Tuning of the closing reconciliation. */
  reconcileTuning?: Partial<ReconcileTuning>;
}

export interface BackfillResult {
  keys: number;
  writes: number;
  /** Keys left as they were: earlier writes of theirs were still on their way (see copyKey). */
  skipped: number;
  /** True when it went through every legacy key (not stopped). */
  complete: boolean;
  /** Why it stopped, when `refusal` gave a reason. */
  refused?: string;
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

/**
 * A key's copy, retried on transient failures (a timeout may have left it half written: the retry completes it).
 * Live writes of the key (the backfill runs at dual-write) are held while it is rewritten, and kept after the
 * history; a key whose earlier writes are still on their way, or one of whose own may still land, is left as it is
 * (undefined), for the closing reconciliation to report if it differs.
 */
async function copyKey(opts: BackfillOptions, sync: HeldSync, record: CanonicalRecord, current: CanonicalRecord | undefined): Promise<number | undefined> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await syncHeld(sync, record.key, record, current);
    } catch (err) {
      if (err instanceof KeyStillWritten || err instanceof MayStillLand) {
        log.warn({ service: opts.service, key: record.key }, err.message);
        return undefined;
      }
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
  const tuning = { ...DEFAULT_TUNING, ...opts.reconcileTuning };
  const sync: HeldSync = {
    service,
    side: 'new',
    writer: opts.writer,
    source: opts.new,
    holds: new KeyHolds(pool, { leaseMs: tuning.holdLeaseMs }),
    toleranceS: tuning.timeToleranceS,
  };
  let skipped = 0;
  let stopped = false;
  let refused: string | undefined;
  for await (const batch of scanRecords(opts.legacy, {}, opts.batchSize, resumed?.after)) {
    refused = opts.refusal?.();
    if (refused) {
      stopped = true;
      break;
    }
    const current = new Map((await opts.new.recordsOf(batch.map((r) => r.key))).map((r) => [r.key, r]));
    await mapLimit(batch, opts.concurrency, async (record) => {
      const sent = await copyKey(opts, sync, record, current.get(record.key));
      if (sent === undefined) skipped++;
      writes += sent ?? 0;
      keys++;
      progress?.update(keys, writes);
      await limiter.take(sent ?? 0);
    });
    await writeCheckpoint(pool, service, { after: batch.at(-1)!.key, keys, writes });
    if (opts.signal?.aborted) {
      stopped = true;
      break;
    }
  }
  progress?.finish(keys, writes);
  if (stopped) return { keys, writes, skipped, complete: false, ...(refused ? { refused } : {}), ...(resumed ? { resumedAfter: resumed.after } : {}) };
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
  return { keys, writes, skipped, complete: true, ...(resumed ? { resumedAfter: resumed.after } : {}), reconcile: result };
}
