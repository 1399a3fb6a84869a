/**
 * Bringing one key on one side to what the other side (the source of truth) holds, through the normal
 * write path: legacy requests, sent to the legacy service over its leg or carried out on the orchestrator
 * by the translator. Appends what is missing when the side holds a prefix of the truth (a partial copy),
 * otherwise clears the key and writes it whole. Shared by `reconcile --repair` and the backfill.
 * Over 300 lines: syncKey's meeting of a side with the truth (windows, history, snapshots) and the held sync that
 * runs it under the key's hold are read together.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import { serviceOf, type ServiceName } from '../services/registry.js';
import type { SuccessRule } from '../services/service.js';
import type { CanonicalRecord } from '../services/records.js';
import type { IdMap, LegacyRequest, OrchestratorClient, Translator } from '../services/types.js';
import { isNotSent, type Leg } from '../legs/types.js';
import { isSuccess } from '../plan/success.js';
import { parseReply } from '../comparison/observation.js';
import { pyDumps } from '../util/pyjson.js';
import { landedSince, notKept, olderThan, sameElement, withNewer } from './newer.js';
import type { GivenUp } from './given-up.js';
import { HoldLost, type HoldFence, type KeyHolds } from '../outbox/hold.js';
import type { KeyReader } from './source.js';
import { untilShown } from './settled.js';
import type { Side } from '../plan/plan.js';
import { sendOnce, type Resolver } from '../outbox/resolve.js';

/** What keeps a side that cannot be cleared from the truth (`meets`: syncKey's per list), and whether time mends it. */
function unmatched(service: ServiceName, meets: unknown[], sameHeader: boolean): string {
  const shape = serviceOf(service).record;
  const lists = shape.lists.filter((_, i) => meets[i] === undefined);
  if (!lists.length)
    return `its ${shape.header.join(', ')} differs from the truth's and no request of the service sets it${shape.headerFollowsLists ? ' (the next write past the window makes it again)' : ''}`;
  const windows = lists.every((l) => l.retain !== undefined);
  return (
    `its ${lists.map((l) => l.name).join(' and ')} are not the truth's with newer ones missing (an element missing or out of place among them)` +
    `${sameHeader ? '' : ', its header differing too'}, and no request of the service clears, inserts or reorders` +
    (windows ? `: the difference leaves the service's window once ${lists.map((l) => `${l.retain} newer ${l.name}`).join(' and ')} are written` : '')
  );
}

/** One side's write path, taking legacy requests. */
export interface SideWriter {
  /** `stamp`: the element's legacy time, which the orchestrator's copy keeps exactly (the legacy side stamps its own). */
  send(request: LegacyRequest, stamp?: unknown): Promise<void>;
  /**
   * Removes every element of a key where the legacy protocol has no action for it (contextual-memory
   * cannot clear a session); undefined where that is impossible (the legacy side itself).
   */
  clearKey?(key: string): Promise<void>;
  /** Removes the newest `count` elements of a key's list i where no legacy request can (Translator.dropNewest). */
  dropNewest?(key: string, list: number, count: number): Promise<void>;
  /** Sets a key's header where no legacy request can (Translator.restore); undefined where there is no such header. */
  restore?(key: string, header: unknown[], listsKept?: boolean): Promise<void>;
}

export class RepairError extends Error {}

/**
 * Makes `current` (what the side holds now, undefined when absent) equal `truth` (undefined: the key
 * must not exist), elements alike within `toleranceS` counting as equal. Returns how many write requests it
 * sent; throws RepairError when the side's protocol cannot express the change.
 */
export async function syncKey(
  service: ServiceName,
  key: string,
  truth: CanonicalRecord | undefined,
  current: CanonicalRecord | undefined,
  writer: SideWriter,
  toleranceS = 0,
): Promise<number> {
  const ops = serviceOf(service).repair;
  const shape = serviceOf(service).record;
  /**
   * Where the side's list i meets the truth's: past its oldest `fall`, its elements are the truth's first ones but for
   * its newest `drop`, which go (a side keeping the history before them removes them, `dropNewest`); the rest of the
   * truth is appended then. Elements may fall only where the legacy service keeps a list's newest `retain` (both sides
   * are read so) and the truth's are that many: the appends move the window past them (all of them, the truth's whole
   * window written again). Most elements alike in all but time first (copies stamped when a slow acknowledgement was
   * seen, past the tolerance, still place the window: seed 444 lost the side's one before it so), then most kept, then
   * the fewest fallen but for the side's ones stamped before the truth's first, history its window says nothing of
   * (seed 312 lost one so). Undefined where they cannot meet.
   */
  const meeting = (i: number, mine: unknown[][], list: unknown[][]): { fall: number; drop: number } | undefined => {
    const retain = shape.lists[i]?.retain;
    const full = list.length === retain;
    const dropping = writer.dropNewest !== undefined && retain !== undefined && (full || mine.length < retain);
    const history = (fall: number) => fall > 0 && list.length > 0 && olderThan(mine[fall - 1]!, list[0]!);
    const run = (fall: number, from: number, tolerance: number) => {
      let n = from;
      while (fall + n < mine.length && n < list.length && sameElement(service, i, mine[fall + n]!, list[n]!, tolerance)) n++;
      return n;
    };
    let best: { fall: number; drop: number; kept: number; aligned: number } | undefined;
    for (let fall = 0; fall <= (full ? mine.length : 0); fall++) {
      const kept = run(fall, 0, toleranceS);
      const aligned = run(fall, kept, Number.POSITIVE_INFINITY);
      const drop = mine.length - fall - kept;
      const better = !best || aligned > best.aligned || (aligned === best.aligned && (kept > best.kept || (kept === best.kept && history(fall))));
      if ((drop === 0 || dropping) && better) best = { fall, drop, kept, aligned };
    }
    return best && { fall: best.fall, drop: best.drop };
  };
  let sent = 0;
  const send = async (r: LegacyRequest, stamp?: unknown) => {
    await writer.send(r, stamp);
    sent++;
  };
  // Emptied by removing its elements as read, where the side keeps history before a list's window that the truth's
  // whole window then leaves behind it (or has none): the orchestrator's contextual interactions beyond the agent's 50.
  const windowed =
    writer.dropNewest !== undefined &&
    current !== undefined &&
    truth !== undefined &&
    shape.lists.every((l, i) => l.retain === undefined || truth.lists[i]!.length === l.retain || (current.lists[i]?.length ?? 0) < l.retain);
  // `fallen(i)`: list i's oldest elements that met the truth before its window (history it says nothing of), kept.
  const empty = async (removeKey: boolean, why: () => string, fallen: (i: number) => number = () => 0) => {
    const request = removeKey ? (ops.remove ?? ops.clear) : ops.clear;
    if (request) await send(request(key));
    else if (windowed) {
      for (const [i, list] of current.lists.entries()) if (list.length > fallen(i)) await writer.dropNewest!(key, i, list.length - fallen(i));
    } else if (writer.clearKey) await writer.clearKey(key);
    else throw new RepairError(`${service} cannot make "${key}" like the truth on this side: ${why()}`);
  };
  if (!truth) {
    if (current) await empty(true, () => 'the truth does not hold it, and no request of the service clears it');
    return sent;
  }
  const sameHeader = current !== undefined && isDeepStrictEqual(current.header, truth.header);
  const meets = truth.lists.map((list, i) => (current ? meeting(i, current.lists[i] ?? [], list) : undefined));
  // A header the lists make, alone apart where it cannot be set (lists alike): made again over the truth's window and
  // the element before it, those appended (chaos seed 332: legacy's one before its window had landed there alone).
  const alike = (i: number) => meets[i]?.fall === 0 && meets[i]?.drop === 0 && current?.lists[i]?.length === truth.lists[i]!.length;
  const remake =
    sameHeader || writer.restore || !shape.headerFollowsLists
      ? -1
      : shape.lists.findIndex((l, i) => alike(i) && truth.before?.[i] && l.retain === truth.lists[i]!.length);
  if (remake >= 0) meets[remake] = { fall: truth.lists[remake]!.length, drop: 0 };
  // A header the lists make (contextual's snapshot, made again by every add past the window) is made by the appends
  // once elements fall: the side then holds more than the window at the last of them.
  const remade = shape.headerFollowsLists === true && meets.some((m) => m !== undefined && m.fall > 0);
  // A side whose header can be set (the orchestrator's snapshot) gets the truth's set after the appends, not cleared
  // first: where it differs, and where the appends made it again, over the side's own element before what it keeps,
  // which legacy, keeping nothing before its window, cannot name (chaos seed 577: one interaction's type apart).
  const set = writer.restore !== undefined && (!sameHeader || remade);
  const meet = current !== undefined && (sameHeader || remade || set) && meets.every((m) => m !== undefined);
  if (!meet) {
    // A different header (session-memory's user and metadata) is only rewritten by re-creating the key.
    // A list that met keeps what fell before the truth's window where another list did not meet (chaos seed 728: a
    // decision out of order emptied the key, and the interaction that legacy's window had just left went with it).
    if (current)
      await empty(
        !sameHeader,
        () => unmatched(service, meets, sameHeader),
        (i) => meets[i]?.fall ?? 0,
      );
    for (const r of ops.create?.(truth) ?? []) await send(r);
    await writer.restore?.(key, truth.header);
  }
  for (const [i, list] of truth.lists.entries()) {
    const m = meet ? meets[i]! : { fall: 0, drop: 0 };
    if (m.drop) await writer.dropNewest!(key, i, m.drop);
    const timed = shape.lists[i]?.timed;
    const from = meet ? (current!.lists[i]?.length ?? 0) - m.fall - m.drop : 0;
    // Where elements fall, the last append makes the header again over the window and the side's element before what it
    // keeps: where that is not the truth's one before its window, that one goes first and the whole window after it
    // (chaos seed 105: the side's own newest was that element, the snapshots' counts of each type apart).
    const before = remade && m.fall > 0 ? truth.before?.[i] : undefined;
    const prior = current?.lists[i]?.[m.fall - 1];
    const whole = before && !(prior && sameElement(service, i, prior, before, Number.POSITIVE_INFINITY));
    for (const element of whole ? [before, ...list] : list.slice(from)) await send(ops.append(key, i, element), timed ? element.at(-1) : undefined);
  }
  // Set last where kept history made the appends make the header again.
  if ((meet && set) || (!meet && windowed && writer.restore)) await writer.restore!(key, truth.header, true);
  return sent;
}

/** A key's sync on one side while writes keep landing there: the key held, what the side holds read under the hold. */
export interface HeldSync {
  service: ServiceName;
  side: Side;
  writer: SideWriter;
  /** The side as read: what it holds of a key now, and whether its tables show acknowledged writes yet. */
  source: KeyReader;
  holds: KeyHolds;
  toleranceS: number;
  /**
   * A person gave up what the side held beyond the truth when the run read it (the writes the truth missed, its gap
   * given up): only what landed there since (`heldBefore`, a read before the truth's), live writes beside the repair,
   * is kept after the truth; what the rewrite takes from the side is kept here first.
   */
  giveUp?: GivenUp;
  /**
   * Only what landed on the side since `heldBefore` was read is kept after the truth, as with a give-up: the side's own
   * elements in another order (a reorder of the truth's side) are not writes newer than the truth.
   */
  sinceRead?: boolean;
}

/**
 * syncKey for a truth read a while ago, on a side live writes of the key keep landing on: what landed since is kept
 * after the truth (withNewer), and the rewrite runs while the key's writes are held (KeyHolds), on what the side
 * holds under the hold. `current` (read before) only spares the hold when the key needs nothing. A side away is
 * waited for a while. Returns the writes sent; KeyStillWritten when earlier writes of the key did not land in time
 * (the key untouched).
 */
export async function syncHeld(
  s: HeldSync,
  key: string,
  truth: CanonicalRecord | undefined,
  current: CanonicalRecord | undefined,
  heldBefore?: CanonicalRecord,
): Promise<number> {
  // What the side holds beyond the truth that is kept after it: all of it, or what landed since it was read before the truth.
  const beyond = (side: CanonicalRecord | undefined) => ((s.giveUp || s.sinceRead) && side ? landedSince(heldBefore, side) : side);
  if (!(await needsSync(s.service, key, truth && withNewer(s.service, truth, beyond(current), s.toleranceS), current, s.toleranceS))) return 0;
  let away = 0;
  let lost = 0;
  for (;;) {
    try {
      // Done again whole when the hold ran out meanwhile: what the side holds, read again under the new hold, has the
      // writes that landed since after whatever this attempt wrote, and withNewer keeps them after the truth.
      return await s.holds.hold(s.service, key, s.side, async (fence) => {
        const now = await readLanded(s, key);
        const target = truth && withNewer(s.service, truth, beyond(now), s.toleranceS);
        const taken = s.giveUp && notKept(s.service, now, target);
        if (taken) await s.giveUp!.keep(key, taken);
        return syncKey(s.service, key, target, now, fenced(s.writer, fence), s.toleranceS);
      });
    } catch (err) {
      // The side away (not connected, its breaker open: a legacy agent restarting): the failed write was not sent, so
      // the key is done again, from what the side holds then, a few times before it counts failed.
      if (isNotSent(err) && away < AWAY_WAITS_MS.length) {
        await sleep(AWAY_WAITS_MS[away++]!);
        continue;
      }
      if (!(err instanceof HoldLost) || ++lost >= HOLD_ATTEMPTS) throw err;
    }
  }
}

const HOLD_ATTEMPTS = 3;
/** Waits before a key is done again while its side is away: about 8 s in all, past a supervisor's restart. */
const AWAY_WAITS_MS = [250, 500, 1_000, 2_000, 4_000];

/** The writer, each write sent only while the hold is still this holder's. */
function fenced(writer: SideWriter, fence: HoldFence): SideWriter {
  const guard =
    <A extends unknown[]>(write: (...args: A) => Promise<void>) =>
    async (...args: A) => {
      await fence.check();
      await write.apply(writer, args);
    };
  const { clearKey, dropNewest, restore } = writer;
  return {
    send: guard(writer.send),
    ...(clearKey ? { clearKey: guard(clearKey) } : {}),
    ...(dropNewest ? { dropNewest: guard(dropNewest) } : {}),
    ...(restore ? { restore: guard(restore) } : {}),
  };
}

/**
 * The side's record of the key once its tables show every write the outbox saw land there lately: the orchestrator
 * writes its tables behind its replies, and a rewrite from a read that misses one would wipe it (a write the side
 * acknowledged and never shows is the reconciliation's to find).
 */
async function readLanded(s: HeldSync, key: string): Promise<CanonicalRecord | undefined> {
  if (s.source.showsWrites) await untilShown(s.source, await s.holds.landedLately(s.service, key, s.side));
  return (await s.source.recordsOf([key]))[0];
}

/** Whether the side's `current` is other than `target` (the truth followed by what is kept): syncKey's dry run. */
async function needsSync(
  service: ServiceName,
  key: string,
  target: CanonicalRecord | undefined,
  current: CanonicalRecord | undefined,
  toleranceS: number,
): Promise<boolean> {
  const needed = () => Promise.reject(new Needed());
  try {
    await syncKey(service, key, target, current, { send: needed, clearKey: needed, dropNewest: needed, restore: needed }, toleranceS);
    return false;
  } catch (err) {
    if (err instanceof Needed) return true;
    throw err;
  }
}

/** A dry run's first write: the key needs one. */
class Needed extends Error {}

/**
 * Writes to the legacy service itself, over its leg; a reply its success rules reject is an error. A write
 * whose outcome is unknown is looked up before it is sent again (the resolver's legs are this writer's).
 */
export function legacyWriter(service: ServiceName, leg: Leg, rules: SuccessRule[], resolver: Resolver): SideWriter {
  return {
    async send(request) {
      const reply = await sendOnce(resolver, 'legacy', service, request, async () => parseReply(await leg.call(pyDumps(request))));
      if (reply !== undefined && !isSuccess(reply, rules)) throw new RepairError(`legacy ${request.action} refused: ${pyDumps(reply).slice(0, 200)}`);
    },
  };
}

/** Writes to the orchestrator through the service's translator, as a dual write would, each write tagged so it can be found. */
export function newWriter(
  service: ServiceName,
  translator: Translator,
  client: OrchestratorClient,
  ids: IdMap,
  rules: SuccessRule[],
  resolver: Resolver,
): SideWriter {
  return {
    async send(request, stamp) {
      const ctx = { createMissing: true, ...(stamp === undefined || stamp === null ? {} : { stamp }) };
      const reply = await sendOnce(resolver, 'new', service, request, (writeId) => translator.handle(request, { ...ctx, writeId }));
      if (reply !== undefined && !isSuccess(reply, rules)) throw new RepairError(`new ${request.action} refused: ${pyDumps(reply).slice(0, 200)}`);
    },
    ...(translator.restore ? { restore: translator.restore.bind(translator) } : {}),
    ...(translator.dropNewest ? { dropNewest: translator.dropNewest.bind(translator) } : {}),
    async clearKey(key) {
      const sessionId = await ids.get(service, key);
      if (sessionId) await client.call('bulk_delete', sessionId, { filter: { memory_type: serviceOf(service).memoryType } });
    },
  };
}
