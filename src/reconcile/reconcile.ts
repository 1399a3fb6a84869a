/**
 * One reconciliation run of one service: under the service's advisory lock, compares the two stores
 * window by window (checkpointing after each, so a dead run resumes where it stopped), re-checks every
 * difference at the end (a key written during the run converges and is not reported), repairs from the
 * source of truth when asked, and records the run in reconcile_runs.
 */
import type { ValuesAtRest } from '../store/at-rest.js';
import type pg from 'pg';
import type { ServiceName } from '../services/registry.js';
import { compareKeys } from '../services/records.js';
import type { KeyRange } from './canonical.js';
import type { RangeChecksum, RecordSource } from './source.js';
import { childLogger } from '../telemetry/log.js';
import { bisect, cut, emptyStats, type DiffTuning } from './diff.js';
import { RateLimiter } from './pace.js';
import type { SideWriter } from './repair.js';
import { beyondTruth, repairDifferences } from './repair-run.js';
import { recheck, type Recheck } from './recheck.js';
import { OutboxTable } from '../outbox/table.js';
import { LegacyReads } from './legacy-reads.js';
import { STAGE_PLANS, type Stage } from '../flags/stage.js';
import { other, type Side } from '../plan/plan.js';
import { ReconcileRuns, type Difference, type ReconcileRun, type RunTrigger } from './runs.js';
import type { GivenUp } from './given-up.js';
import { connectClient } from '../store/client.js';
import type { KeyLocks } from '../services/types.js';

const log = childLogger('reconcile');

export type { Side };

export interface ReconcileTuning extends DiffTuning {
  /** Keys per top-level segment (the first level of checksums). */
  segmentSize: number;
  /** Top-level segments compared between two checkpoints. */
  window: number;
  /** Wait before re-checking differences, so writes in flight (and stores written behind) settle. */
  recheckDelayMs: number;
  /** Keys checksummed per second, on average; 0: unlimited. */
  keysPerSecond: number;
  /** Differences copied into the run row for the report. */
  sampleSize: number;
  /** A repaired key's hold outlives its holder's last renewal by this much (KeyHoldOptions.leaseMs). */
  holdLeaseMs: number;
}

/** Re-check rounds at most (each after recheckDelayMs), while keys keep converging. */
const RECHECK_ROUNDS = 5;

export const DEFAULT_TUNING: ReconcileTuning = {
  leafSize: 64,
  fanout: 16,
  maxFieldDiffs: 20,
  timeToleranceS: 1,
  segmentSize: 1_000,
  window: 256,
  recheckDelayMs: 1_000,
  keysPerSecond: 0,
  sampleSize: 20,
  holdLeaseMs: 10_000,
};

export interface ReconcileSides {
  legacy: RecordSource;
  new: RecordSource;
  /** A fresh read of the legacy store for the final re-check (undefined: it has not changed). */
  reloadLegacy?: () => Promise<RecordSource | undefined>;
  /** Write paths; required for repair (the side that is not the truth is written). */
  writers?: Partial<Record<Side, SideWriter>>;
}

export interface ReconcileOptions {
  service: ServiceName;
  /** The state store, holding reconcile_runs. */
  pool: pg.Pool;
  sides: ReconcileSides;
  /** Source of truth for repairs: legacy until the new side is primary. */
  truth: Side;
  /** The stage the service is at: which side agents' writes land on first. */
  stage?: Stage | null;
  repair?: boolean;
  /** Asked before each key a repair writes: a reason not to write the target side (any more) fails the keys left. */
  refusal?: () => string | undefined;
  /** A repair that gives up what the target held beyond the truth when read, kept here (HeldSync.giveUp): a gap given up. */
  giveUp?: GivenUp;
  trigger?: RunTrigger;
  /** Only keys in this range (default all). */
  range?: KeyRange;
  tuning?: Partial<ReconcileTuning>;
  onProgress?: (p: { checkpointKey: string | null; differences: number }) => void;
  /** The keys' write-order locks every replica's writes take (outbox.keyOrder: replicas): a repair may then rewrite the primary. */
  writeOrder?: KeyLocks;
  /** How the stored differences keep users' values (default redacted under a key drawn now). */
  valuesAtRest?: ValuesAtRest;
}

export interface ReconcileResult {
  run: ReconcileRun;
  /** Confirmed differences (with `repaired` set when a repair was tried). */
  differences: Difference[];
  /** Differences still standing after the run (not repaired); those whose writes had not landed yet are `queued`. */
  remaining: number;
}

export class ReconcileBusyError extends Error {}

/** Windows whose orchestrator-side checksums may be asked for before their turn. */
const WINDOWS_AHEAD = 4;

/** The side agents write first at the run's stage. */
const primaryOf = (opts: ReconcileOptions): Side => (opts.stage && STAGE_PLANS[opts.stage].newPrimary ? 'new' : 'legacy');

export async function reconcile(opts: ReconcileOptions): Promise<ReconcileResult> {
  const t: ReconcileTuning = { ...DEFAULT_TUNING, ...opts.tuning };
  // Legacy stamps each write with its own clock as it gets it. Written after the orchestrator (new-primary, a repair
  // of legacy), its times say when a write reached it (after an outbox retry, a restart, a repair: seconds or days
  // after the element's own), not the element's: its copies are matched by content and place. A tolerance would
  // report every late copy, and a repair would take it for a newer write and add the element again beside it.
  if (primaryOf(opts) === 'new' || opts.truth === 'new') t.timeToleranceS = Infinity;
  const lock = await connectClient(opts.pool);
  try {
    const { rows } = await lock.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [`memshift.reconcile:${opts.service}`]);
    if (!rows[0]?.ok) throw new ReconcileBusyError(`a reconciliation of ${opts.service} is already running`);
    try {
      return await run(opts, t);
    } finally {
      await lock.query('SELECT pg_advisory_unlock(hashtext($1))', [`memshift.reconcile:${opts.service}`]);
    }
  } finally {
    lock.release();
  }
}

async function run(opts: ReconcileOptions, t: ReconcileTuning): Promise<ReconcileResult> {
  const { service } = opts;
  const runs = new ReconcileRuns(opts.pool, opts.valuesAtRest);
  const resumed = await runs.unfinished(service);
  const current =
    resumed ?? (await runs.start(service, { trigger: opts.trigger ?? 'manual', stage: opts.stage ?? null, truth: opts.truth, repair: opts.repair ?? false }));
  if (resumed) log.info({ service, run: resumed.id, from: resumed.checkpointKey }, 'resuming an interrupted reconciliation');
  try {
    await compareAll(opts, t, runs, current);
    return await conclude(opts, t, runs, current);
  } catch (err) {
    await runs.finish(current.id, { status: 'failed', converged: 0, repaired: 0, repairFailed: 0, sampleSize: t.sampleSize, error: (err as Error).message });
    throw err;
  }
}

/** Bounds of `range` from the checkpoint on. */
function remainingRange(range: KeyRange | undefined, checkpoint: string | null): KeyRange {
  const from = [range?.from, checkpoint ?? undefined]
    .filter((k): k is string => k !== undefined)
    .sort(compareKeys)
    .at(-1);
  return { ...(from === undefined ? {} : { from }), ...(range?.to === undefined ? {} : { to: range.to }) };
}

async function compareAll(opts: ReconcileOptions, t: ReconcileTuning, runs: ReconcileRuns, current: ReconcileRun): Promise<void> {
  const { legacy, new: neu } = opts.sides;
  const range = remainingRange(opts.range, current.checkpointKey);
  // Segments are cut on the orchestrator side (from a sample), so its first checksums run while the legacy
  // store is still being read; a nearly empty orchestrator leaves the cutting to the legacy side.
  let keys = await neu.segmentKeys(range, t.segmentSize);
  if (keys.length === 0) keys = await legacy.segmentKeys(range, t.segmentSize);
  const all = cut(range, keys);
  const limiter = new RateLimiter(t.keysPerSecond);
  // The orchestrator's first checksums of the next windows are asked for one after another ahead of the
  // comparison, so its database works while the legacy store is still being read (and while a window is bisected);
  // not when throttled, where the pace is the point.
  const lookahead = t.keysPerSecond > 0 ? 0 : WINDOWS_AHEAD;
  const ahead: Promise<RangeChecksum[]>[] = [];
  const askAhead = (upTo: number) => {
    for (let k = ahead.length; k <= upTo && k * t.window < all.length; k++) {
      const previous = ahead[k - 1]?.catch(() => undefined);
      ahead.push((previous ?? Promise.resolve()).then(() => neu.checksums(all.slice(k * t.window, (k + 1) * t.window))));
      ahead[k]!.catch(() => undefined);
    }
  };
  let differences = 0;
  for (let w = 0; w < all.length; w += t.window) {
    const window = all.slice(w, w + t.window);
    const stats = emptyStats();
    askAhead(w / t.window + lookahead);
    const found = await bisect(opts.service, legacy, neu, window, t, stats, limiter, ahead[w / t.window]);
    differences += found.length;
    const checkpointKey = window.at(-1)!.to ?? current.checkpointKey;
    await runs.checkpoint(current.id, found, { checkpointKey, ...stats });
    opts.onProgress?.({ checkpointKey, differences });
  }
}

async function conclude(opts: ReconcileOptions, t: ReconcileTuning, runs: ReconcileRuns, current: ReconcileRun): Promise<ReconcileResult> {
  const { service, sides } = opts;
  const primary = primaryOf(opts);
  // A give-up judges legacy's extra elements by what the primary held after them: a fresh read of it each time.
  const legacy = new LegacyReads(sides.legacy, () => sides.reloadLegacy?.() ?? Promise.resolve(undefined), primary === 'new' || opts.giveUp !== undefined);
  const checks: Recheck = {
    service,
    table: new OutboxTable(opts.pool),
    primary,
    tuning: t,
    rounds: RECHECK_ROUNDS,
    sides: { legacy, new: sides.new },
    giveUpHeld: opts.giveUp !== undefined,
  };
  let differences = await runs.differences(current.id);
  let converged = 0;
  let repaired = 0;
  let repairFailed = 0;
  try {
    // The re-check: what changed since it was compared (writes in flight during the run, a store written behind its
    // replies catching up under load) is judged now.
    const checked = await recheck(
      checks,
      differences.map((d) => d.key),
    );
    const { differing, listsOnly } = checked;
    if (listsOnly.size)
      log.info({ service, keys: listsOnly.size }, 'keys written during the re-check judged on their lists; their header is compared when they are quiet');
    const gone = differences.filter((d) => !differing.has(d.key)).map((d) => d.key);
    converged = gone.length;
    await runs.forgetDifferences(current.id, gone);
    differences = [...differing.values()];
    if (checked.read) {
      if (opts.repair && differences.length) {
        repairFailed = await repairDifferences(
          {
            service,
            pool: opts.pool,
            truth: opts.truth,
            primary,
            ...(opts.writeOrder ? { writeOrder: opts.writeOrder } : {}),
            writers: opts.sides.writers ?? {},
            sources: { legacy, new: sides.new },
            holdLeaseMs: t.holdLeaseMs,
            toleranceS: t.timeToleranceS,
            keysPerSecond: t.keysPerSecond,
            ...(opts.refusal ? { refusal: opts.refusal } : {}),
            ...(opts.giveUp ? { giveUp: opts.giveUp } : {}),
          },
          differences,
          checked,
        );
        const tried = differences.filter((d) => d.repaired !== false);
        const after = await recheck(
          checks,
          tried.map((d) => d.key),
        );
        for (const d of tried) d.repaired = !after.differing.has(d.key);
        for (const d of differences) {
          const beyond = !d.repaired && beyondTruth(service, d.key, checked.read, opts.truth);
          if (beyond) d.unrepaired = d.unrepaired ? `${d.unrepaired}; ${beyond}` : beyond;
        }
        repaired = differences.filter((d) => d.repaired).length;
      }
      await runs.saveDifferences(current.id, differences);
    }
  } finally {
    await legacy.close();
  }
  const retained = (await sides.new.retained?.(opts.range ?? {})) ?? 0;
  const left = differences.filter((d) => !d.repaired).map((d) => d.key);
  // Writes the re-check's wait did not see land (an outbox behind, a secondary away): the key may yet come alike.
  const queued = left.length ? [...(await checks.table.openUpTo(service, other(primary), await checks.table.lastSeqs(service, left)))] : [];
  await runs.markQueued(current.id, queued);
  const isQueued = new Set(queued);
  for (const d of differences) if (isQueued.has(d.key)) d.queued = true;
  const run = await runs.finish(current.id, { status: 'done', converged, repaired, repairFailed, sampleSize: t.sampleSize, retained });
  log.info(
    {
      service,
      run: run.id,
      missingInNew: run.missingInNew,
      missingInLegacy: run.missingInLegacy,
      differing: run.differing,
      converged,
      repaired,
      remaining: left.length,
      queued: queued.length,
    },
    'reconciliation finished',
  );
  return { run, differences, remaining: left.length };
}
