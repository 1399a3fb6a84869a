/**
 * The two sides of one service as configured: the legacy store file, the orchestrator's PostgreSQL, and
 * (for repairs and the backfill) both write paths. Shared by `memshift reconcile`, `memshift backfill`
 * and the scheduled runs.
 */
import { valuesAtRestFor } from '../store/open.js';
import { stat } from 'node:fs/promises';
import type { Config } from '../config.js';
import { callOptionsOf, newBackendOf, serviceConfigOf, translatorOptionsOf, writeSuccessOf } from '../config.js';
import { STAGE_PLANS, type Stage } from '../flags/stage.js';
import { createLeg } from '../legs/index.js';
import type { Leg } from '../legs/types.js';
import { serviceOf, type ServiceName } from '../services/registry.js';
import { LegOrchestratorClient } from '../services/orchestrator-client.js';
import type { IdMap, KeyLocks } from '../services/types.js';
import { legacyPath, openLegacySource } from './legacy.js';
import { openOrchestratorSource } from './orchestrator.js';
import type { LegacyIndex } from './legacy-index.js';
import { DeferredSource } from './source.js';
import { serviceSnapshot, type Flags } from '../flags/source.js';
import type { Store } from '../store/index.js';
import { GAP_CAUSE, repairOf, WRITTEN_SECOND, type SideGap } from '../store/side-gaps.js';
import type { KeyRange } from './canonical.js';
import { reconcile, type ReconcileOptions, type ReconcileResult, type ReconcileSides, type ReconcileTuning, type Side } from './reconcile.js';
import type { RunTrigger } from './runs.js';
import { legacyWriter, newWriter } from './repair.js';
import { GivenUpFile } from './given-up.js';
import { barrierPingsFor, Resolver } from '../outbox/resolve.js';
import { other } from '../plan/plan.js';
import { childLogger } from '../telemetry/log.js';

const log = childLogger('reconcile');

/** The side repairs copy from: legacy until the orchestrator answers writes first. */
const truthFor = (stage: Stage): Side => (STAGE_PLANS[stage].newPrimary ? 'new' : 'legacy');

/**
 * Why rewriting `side`'s keys (a repair towards it, the backfill into the orchestrator) at `stage` could wipe
 * acknowledged writes, when it could: agents' writes land on the primary directly, and a key hold (KeyHolds) holds
 * back only the outbox's writes, towards the secondary.
 */
export function rewriteRefusal(service: ServiceName, stage: Stage, side: Side): string | undefined {
  if (truthFor(stage) !== side) return undefined;
  return (
    `${service} is at stage ${stage}, where agents' writes land on the ${side} side first: rewriting its keys while they ` +
    `write could wipe acknowledged writes; move the stage back so that it is the secondary first`
  );
}

/** Why copying `truth`'s keys over the other side would undo writes `truth` missed (its gap), when it would. */
export function gapRefusal(service: ServiceName, truth: Side, gap: SideGap | undefined): string | undefined {
  if (!gap) return undefined;
  return (
    `${service}'s ${truth === 'legacy' ? 'legacy store' : 'orchestrator'} has missed writes since ${gap.since.toISOString()} ` +
    `(${GAP_CAUSE[truth]}): copying it over the other side would undo them; repair it from the other side instead ` +
    `(at ${WRITTEN_SECOND[truth]}: ${repairOf(service, truth)})`
  );
}

/**
 * Forgets the truth's own gap for a repair a person asked to give its missed writes up (`giveUpMissed`); what it
 * forgot, or nothing when it had none. Refused where the truth is not written first: it would go on missing writes.
 */
async function giveUpMissed(store: Store, service: ServiceName, stage: Stage, truth: Side): Promise<(SideGap & { side: Side }) | undefined> {
  if (secondaryAt(stage) !== other(truth))
    throw new Error(
      `repair refused: the writes ${service}'s ${truth === 'legacy' ? 'legacy store' : 'orchestrator'} missed can be given up only where ` +
        `agents write it first and the other side second (stage ${WRITTEN_SECOND[other(truth)]}; now ${stage})`,
    );
  const { clear, remove } = serviceOf(service).repair;
  if (truth === 'new' && !clear && !remove)
    throw new Error(
      `repair refused: ${service}'s legacy service has no request that removes what a key holds, so legacy cannot be made like the ` +
        `orchestrator: only legacy's copy can be kept (--truth legacy at ${WRITTEN_SECOND.new})`,
    );
  const gap = store.gaps.of(service, truth);
  if (!gap) return undefined;
  // Stamped now: a write it missed later (a replica still under the kill switch) keeps the gap, and the repair is refused.
  if (!(await store.gaps.close(service, truth, new Date()))) return undefined;
  log.warn({ service, side: truth, since: gap.since.toISOString() }, 'repair: the writes this side missed are given up, as asked');
  return { ...gap, side: truth };
}

/** The side a stage writes second (the outbox's), if it writes both. */
const secondaryAt = (stage: Stage): Side | undefined => (STAGE_PLANS[stage].dualWrite ? (STAGE_PLANS[stage].newPrimary ? 'legacy' : 'new') : undefined);

/** Where reconcile and backfill read a service's legacy store. */
export function legacyStorePath(config: Config, service: ServiceName): string {
  return config.reconcile.legacyFiles[service] ?? legacyPath(service, config.reconcile.legacyDataDir);
}

export function tuningOf(config: Config): Partial<ReconcileTuning> {
  const { segmentSize, leafSize, fanout, window, recheckDelayMs, keysPerSecond, sampleSize, timeToleranceS, holdLeaseMs } = config.reconcile;
  return { segmentSize, leafSize, fanout, window, recheckDelayMs, keysPerSecond, sampleSize, timeToleranceS, holdLeaseMs };
}

export interface OpenedSides extends ReconcileSides {
  /** Still loading when returned: the reconciler starts on the other side meanwhile. */
  legacy: DeferredSource<LegacyIndex>;
  close(): Promise<void>;
}

/** Opens both sides; `ids` (the store's id map) enables the write paths, which take the store's key `locks`. */
export async function openSides(config: Config, service: ServiceName, ids?: IdMap, locks?: KeyLocks): Promise<OpenedSides> {
  const url = config.reconcile.orchestratorDatabaseUrl;
  if (!url) throw new Error('reconcile.orchestratorDatabaseUrl (or MEMSHIFT_ORCHESTRATOR_DATABASE_URL) is required: the orchestrator store is read directly');
  const path = legacyStorePath(config, service);
  const version = async () => {
    const s = await stat(path);
    return `${s.mtimeMs}:${s.size}`;
  };
  let readVersion = await version();
  const read = { encoding: config.reconcile.legacyEncoding };
  const legacy = new DeferredSource(openLegacySource(service, path, read));
  const neu = openOrchestratorSource(service, url, config.reconcile.orchestratorStatementTimeoutMs);
  const legs: Leg[] = [];
  const leg = (b: Config['orchestrator'], side: Side) => {
    const l = createLeg(b.endpoint, callOptionsOf(config, b, side));
    legs.push(l);
    return l;
  };
  let writers: ReconcileSides['writers'];
  if (ids) {
    const backend = newBackendOf(config, service);
    const newLeg = leg(backend, 'new');
    const legacyLeg = leg(serviceConfigOf(config, service).legacy, 'legacy');
    const client = new LegOrchestratorClient(newLeg);
    const translator = serviceOf(service).translator(client, ids, { locks, ...translatorOptionsOf(config, service) });
    const rules = writeSuccessOf(config, service);
    // No outbox tracks repair writes: a legacy look-up counts only what the key holds (none known applied).
    const resolver = new Resolver({
      sides: () => ({ legacy: legacyLeg, newLeg, translator }),
      appliedOn: async () => [],
      barrierPings: barrierPingsFor(config),
    });
    writers = {
      legacy: legacyWriter(service, legacyLeg, rules, resolver),
      new: newWriter(service, translator, client, ids, rules, resolver),
    };
  }
  return {
    legacy,
    new: neu,
    ...(writers ? { writers } : {}),
    async reloadLegacy() {
      const now = await version();
      if (now === readVersion) return undefined;
      readVersion = now;
      return openLegacySource(service, path, read);
    },
    async close() {
      await Promise.allSettled([legacy.close(), neu.close(), ...legs.map((l) => l.close())]);
    },
  };
}

export interface ServiceRunOptions {
  repair?: boolean;
  trigger?: RunTrigger;
  /** Overrides the truth the stage implies. */
  truth?: Side;
  range?: KeyRange;
  tuning?: Partial<ReconcileTuning>;
  onProgress?: ReconcileOptions['onProgress'];
  /**
   * With a repair from a truth that has a gap of its own (both sides missed writes: the kill switch pressed at
   * complete), a person's choice to give up the writes the truth missed: its gap is forgotten and the repair makes the
   * other side like it. Only where the truth is written first and the other side second, so that it misses no more.
   * Asked again after a run that died midway (the gap already forgotten), it drops the rest all the same. What each
   * key loses is appended to the file `keepIn` first (GivenUpFile; /dev/null keeps none).
   */
  giveUpMissed?: { keepIn: string };
}

/**
 * One run for one service as configured: its stage (from the flags) picks the source of truth, the other side while
 * one side alone has a gap (SideGaps), and a repair from a side with a gap is refused. A run that leaves the two alike,
 * begun while the side with the gap is written second (the outbox's side, legacy at new-primary, the orchestrator from
 * dual-write to cutover) and after its last missed write was recorded, closes the gap. Where that side answers first,
 * the re-checks take what the other holds newer for writes in flight, just what a gap looks like; where it is not
 * written, writes may miss it still. `gap`: the one on the side repaired, and whether this run closed it.
 */
export async function reconcileService(
  config: Config,
  store: Store,
  flags: Flags,
  service: ServiceName,
  opts: ServiceRunOptions = {},
): Promise<ReconcileResult & { gap?: SideGap & { side: Side; closed: boolean }; givenUp?: SideGap & { side: Side }; kept?: GivenUpFile }> {
  const stage = serviceSnapshot(flags.snapshot(), service).stage;
  // Read afresh, not as of the last flush: another replica may have opened or closed a gap within that second.
  await store.gaps.read();
  const [legacyGap, newGap] = [store.gaps.of(service, 'legacy'), store.gaps.of(service, 'new')];
  const truth = opts.truth ?? (legacyGap && !newGap ? 'new' : newGap && !legacyGap ? 'legacy' : truthFor(stage));
  // Asked again before each key: the stage may move (a person, the guard's rollback) while the repair runs.
  const refusal = () =>
    rewriteRefusal(service, serviceSnapshot(flags.snapshot(), service).stage, other(truth)) ?? gapRefusal(service, truth, store.gaps.of(service, truth));
  // Opened before the gap is forgotten: a file that cannot be written stops the give-up before it starts.
  const kept = opts.repair && opts.giveUpMissed ? await GivenUpFile.open(opts.giveUpMissed.keepIn, service, other(truth)) : undefined;
  let result: ReconcileResult;
  let givenUp: (SideGap & { side: Side }) | undefined;
  try {
    givenUp = kept ? await giveUpMissed(store, service, stage, truth) : undefined;
    const refused = opts.repair && refusal();
    if (refused) throw new Error(`repair refused: ${refused}`);
    const sides = await openSides(config, service, opts.repair ? store.idMap : undefined, store.keyLocks);
    try {
      result = await reconcile({
        service,
        pool: store.pool,
        sides,
        truth,
        stage,
        repair: opts.repair ?? false,
        refusal,
        // Also once its gap is gone: a run asked the same again after one that died midway gives up the rest.
        ...(kept ? { giveUp: kept } : {}),
        trigger: opts.trigger ?? 'manual',
        ...(opts.range ? { range: opts.range } : {}),
        tuning: { ...tuningOf(config), ...opts.tuning },
        ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
        valuesAtRest: valuesAtRestFor(config),
        ...(config.outbox.keyOrder === 'replicas' ? { writeOrder: store.keyLocks.writeOrder } : {}),
      });
    } finally {
      await sides.close();
    }
  } finally {
    await kept?.close();
  }
  const side = other(truth);
  const gap = side === 'legacy' ? legacyGap : newGap;
  const forgotten = { ...(givenUp ? { givenUp } : {}), ...(kept ? { kept } : {}) };
  if (!gap) return { ...result, ...forgotten };
  // A run over part of the keys says nothing of the rest.
  const closes = !opts.range && secondaryAt(stage) === side && result.run.status === 'done' && result.remaining === 0;
  return { ...result, ...forgotten, gap: { ...gap, side, closed: closes && (await store.gaps.close(service, side, result.run.startedAt)) } };
}
