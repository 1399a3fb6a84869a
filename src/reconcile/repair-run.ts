/**
 * A run's repair of its differences: each key made like the truth on the other side under its hold, or, where that
 * side's protocol only adds and it holds the truth's very elements in another order, the truth's side given its order,
 * and where it holds writes at its end whose copies to the truth are parked, unknown there, the truth given them.
 */
import type pg from 'pg';
import type { ServiceName } from '../services/registry.js';
import type { CanonicalRecord } from '../services/records.js';
import { childLogger } from '../telemetry/log.js';
import { mapLimit, RateLimiter } from './pace.js';
import { RepairError, syncHeld, type HeldSync, type SideWriter } from './repair.js';
import type { Rechecked } from './recheck.js';
import type { SettledRead } from './settled.js';
import type { KeyReader } from './source.js';
import { notKept, sameElement } from './newer.js';
import { parkedAtEnd, writesAnyOf } from './parked.js';
import { other, type Side } from '../plan/plan.js';
import { HoldLost, KeyHolds, KeyStillWritten } from '../outbox/hold.js';
import { OutboxTable } from '../outbox/table.js';
import type { Difference } from './runs.js';
import type { KeyLocks } from '../services/types.js';
import type { GivenUp } from './given-up.js';
import { sideName } from '../util/side-name.js';

const log = childLogger('reconcile');

export interface RepairRun {
  service: ServiceName;
  pool: pg.Pool;
  truth: Side;
  /** The side agents' writes land on first at the run's stage. */
  primary: Side;
  /** The keys' write-order locks across replicas, which a rewrite of the primary takes (else it is not made). */
  writeOrder?: KeyLocks;
  writers: Partial<Record<Side, SideWriter>>;
  /** Each side as read under a hold. */
  sources: Record<Side, KeyReader>;
  holdLeaseMs: number;
  toleranceS: number;
  keysPerSecond: number;
  /** Asked before each key: a reason not to write the target side (any more) fails the keys left. */
  refusal?: () => string | undefined;
  giveUp?: GivenUp;
}

/**
 * `truth` with each list in `side`'s order, when `side` holds every list's very elements (alike as the comparison
 * sees them, each the truth's own: its times kept) in another order somewhere, and `side`'s header; else undefined.
 * A write whose outcome was unknown may land in another place among its key's others on one side than on the other
 * (a contextual decision copied to legacy once its look-up found it): legacy's lists can only be added to, so at
 * new-primary the truth's side takes legacy's order, nothing lost and nothing gained.
 */
export function reordered(service: ServiceName, truth: CanonicalRecord, side: CanonicalRecord, toleranceS: number): CanonicalRecord | undefined {
  let moved = false;
  const lists: unknown[][][] = [];
  for (const [i, list] of truth.lists.entries()) {
    const mine = side.lists[i] ?? [];
    if (mine.length !== list.length) return undefined;
    const left: (unknown[] | undefined)[] = [...list];
    const taken: unknown[][] = [];
    for (const e of mine) {
      const at = left.findIndex((t) => t !== undefined && sameElement(service, i, e, t, toleranceS));
      if (at < 0) return undefined;
      taken.push(left[at]!);
      left[at] = undefined;
    }
    moved ||= taken.some((e, j) => e !== list[j]);
    lists.push(taken);
  }
  return moved ? { key: truth.key, header: side.header, lists } : undefined;
}

/**
 * Why a key may stay apart after a repair from `truth`: the other side holds elements the truth lacks while the key
 * was not written lately (SettledRead.live), so not writes on their way: writes served first there whose copies were
 * lost (a replica killed while the store was away, `npm run chaos` seed 84), or writes the truth missed. A repair
 * keeps what it cannot tell from newer writes; undefined where there are none.
 */
export function beyondTruth(service: ServiceName, key: string, seen: SettledRead, truth: Side): string | undefined {
  const target = other(truth);
  if (seen.live.has(key)) return undefined;
  const count = notKept(service, seen[target].get(key), seen[truth].get(key))?.record.lists.flat().length ?? 0;
  if (!count) return undefined;
  return (
    `${sideName(target)} holds ${count} element(s) ${sideName(truth)} lacks, the key not written lately (writes whose copies were lost, or that ` +
    `${sideName(truth)} missed); to copy them to ${sideName(truth)}, repair with truth ${target} at a stage where ${target} is written first`
  );
}

/**
 * Why a key is not repaired from `truth`: the other side holds elements the truth lacks, and a copy of the write of one
 * of them, applied on the other side first, is parked towards the truth (its outcome there unknown: contextual-memory
 * offers no read that shows it). The truth lacks that very write, which a repair from it would remove from the only
 * side known to hold it (`npm run chaos` seed 318: an interaction acknowledged at new-primary, its copy to legacy
 * parked, gone from the orchestrator after a repair with truth legacy at dual-write). A parked copy of another element's
 * write (one the truth holds, or history beyond its window, which the repair keeps) does not stop it (seed 608); one
 * that cannot be told apart from such a write does (writesAnyOf).
 */
async function parkedTowardsTruth(r: RepairRun, table: OutboxTable, key: string, now: SettledRead): Promise<string | undefined> {
  const [truth, target] = [r.truth, other(r.truth)];
  const lacking = notKept(r.service, now[target].get(key), now[truth].get(key))?.record.lists;
  if (!lacking?.some((l) => l.length)) return undefined;
  const parked = await table.parkedApplied(r.service, key, truth);
  const may = writesAnyOf(r.service, key, lacking);
  const n = parked.filter((p) => may(p.request)).length;
  if (!n) return undefined;
  return (
    `${sideName(target)} holds ${n} element(s) ${sideName(truth)} lacks whose writes, applied there first, ` +
    `have their copies to ${sideName(truth)} parked (their outcome there unknown): a repair from ${sideName(truth)} would remove them; ` +
    `repair with truth ${target} at a stage where ${target} is written first (memshift outbox list --status dead --key names them)`
  );
}

/** Repairs `differences` from the re-check's last read (`seen`); returns how many failed, each with why (`unrepaired`). */
export async function repairDifferences(r: RepairRun, differences: Difference[], seen: Rechecked): Promise<number> {
  const now = seen.read!;
  const target = other(r.truth);
  const holds = new KeyHolds(r.pool, { leaseMs: r.holdLeaseMs });
  const table = new OutboxTable(r.pool);
  const heldOn = (side: Side): HeldSync => {
    const writer = r.writers[side];
    if (!writer) throw new Error(`repair needs a write path to the ${side} side`);
    return { service: r.service, side, writer, source: r.sources[side], holds, toleranceS: r.toleranceS };
  };
  // The key's live writes (of a proxy serving meanwhile) are held while it is rewritten, and kept after the truth.
  const sync: HeldSync = { ...heldOn(target), ...(r.giveUp ? { giveUp: r.giveUp } : {}) };
  /** Makes the truth's side `taken` (its record read as `truth`); `what` the target holds that it takes, for a refusal. */
  const rewriteTruth = async (key: string, taken: CanonicalRecord, truth: CanonicalRecord, what: string): Promise<void> => {
    const rewrite = () => syncHeld({ ...heldOn(r.truth), sinceRead: true }, key, taken, truth, truth);
    // The hold keeps copies back, not agents' writes to the primary: those wait for the key's write-order lock.
    if (r.truth !== r.primary) await rewrite();
    else if (r.writeOrder) await r.writeOrder.hold(r.service, key, rewrite);
    else
      throw new RepairError(
        `${r.service} cannot make "${key}" like the truth on the ${target} side, which holds ${what}; ` +
          `the truth's side would take them, but agents write it first at this stage and outbox.keyOrder is not "replicas" (no write-order lock keeps their writes out meanwhile): ` +
          `move the stage back to one where ${target} is written first and repair with truth ${target}`,
      );
  };
  /** The truth's side given the target's order where the target cannot take the truth's: whether it was. */
  const reorder = async (key: string): Promise<boolean> => {
    const [truth, mine] = [now[r.truth].get(key), now[target].get(key)];
    const taken = truth && mine && r.writers[r.truth] && reordered(r.service, truth, mine, r.toleranceS);
    if (!taken) return false;
    await rewriteTruth(key, taken, truth, "the truth's elements in another order it cannot change");
    log.warn({ service: r.service, key, truth: r.truth }, `the truth's side took the order of the ${target} side, whose protocol cannot reorder`);
    return true;
  };
  /**
   * The truth's side given the writes at the target's end whose copies towards it are parked, their outcome on the
   * target (their primary) unknown then: found there now, applied (parked.ts). How many, or 0.
   */
  const settle = async (key: string): Promise<number> => {
    const [truth, mine] = [now[r.truth].get(key), now[target].get(key)];
    if (!truth || !mine || !r.writers[r.truth]) return 0;
    const parked = await table.parkedUnknown(r.service, key, r.truth);
    const found = parked.length ? parkedAtEnd(r.service, truth, mine, parked, r.toleranceS) : undefined;
    if (!found) return 0;
    await rewriteTruth(key, found.record, truth, `writes whose copies to ${sideName(r.truth)} are parked at its end`);
    // A row retried meanwhile (no longer parked) is left as it is: its claim finds its primary's outcome unknown and parks it again.
    const marked = await table.settleParked(found.ids, `found on ${sideName(target)} by a repair, which copied it`);
    log.warn(
      { service: r.service, key, truth: r.truth, writes: found.ids.length, rowsMarkedDone: marked },
      `parked copies found applied on the ${target} side: the truth's side took them`,
    );
    return found.ids.length;
  };
  let repairFailed = 0;
  let refused: string | undefined;
  const limiter = new RateLimiter(r.keysPerSecond);
  await mapLimit(differences, 8, async (d) => {
    if (!refused && (refused = r.refusal?.())) log.warn({ service: r.service, reason: refused }, 'repair stopped: the keys left are not written');
    if (refused) {
      repairFailed++;
      d.repaired = false;
      return;
    }
    try {
      const parked = await parkedTowardsTruth(r, table, d.key, now);
      if (parked) throw new RepairError(parked);
      const settled = await settle(d.key);
      if (settled) d.settled = settled;
      else
        try {
          await syncHeld(sync, d.key, now[r.truth].get(d.key), now[target].get(d.key), seen.held?.get(d.key));
        } catch (err) {
          if (!(err instanceof RepairError && (await reorder(d.key)))) throw err;
          d.reordered = true;
        }
      await limiter.take(1);
    } catch (err) {
      repairFailed++;
      d.repaired = false;
      if (err instanceof RepairError || err instanceof KeyStillWritten || err instanceof HoldLost) d.unrepaired = err.message;
      log.warn({ service: r.service, key: d.key, err: d.unrepaired ?? err }, 'repair failed');
    }
  });
  return repairFailed;
}
