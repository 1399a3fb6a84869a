/**
 * Judging keys again after a run found them differing, or after a repair wrote them: read settled (settled.ts), round
 * after round, while a round still sees keys come alike. A key agents keep writing is judged on what both sides held
 * at the primary's read, the writes the secondary holds after it kept (withNewer) where it was written lately.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { other, type Side } from '../plan/plan.js';
import { serviceOf, type ServiceName } from '../services/registry.js';
import type { OutboxTable } from '../outbox/table.js';
import { diffRecord, type RecordTuning } from './diff.js';
import { landedSince, withNewer } from './newer.js';
import type { CanonicalRecord } from '../services/records.js';
import type { Difference } from './runs.js';
import { readSettled, type SettledRead } from './settled.js';
import type { KeyReader } from './source.js';

export interface Recheck {
  service: ServiceName;
  table: OutboxTable;
  /** The side agents' writes land on first (the stage's). */
  primary: Side;
  tuning: RecordTuning & { recheckDelayMs: number };
  /** Rounds at most. */
  rounds: number;
  /** Each side as it holds keys now. */
  sides: Record<Side, KeyReader>;
  /**
   * A person gave up what the secondary holds beyond the primary (a gap given up): only what lands on it after a read
   * of it made before the round's wait counts as a live write (one there already had reached the primary, which is
   * read after the wait).
   */
  giveUpHeld?: boolean;
}

export interface Rechecked {
  /** What still differs of each key not alike, in the last round. */
  differing: Map<string, Difference>;
  /** Keys found alike on their lists alone, their header recomputed by writes after the primary's read (judge). */
  listsOnly: Set<string>;
  /** The last round's read (undefined: no round ran). */
  read?: SettledRead;
  /** With giveUpHeld, what the secondary held before the last round's wait: the repair gives up the rest of it too. */
  held?: Map<string, CanonicalRecord>;
}

/**
 * A round waits recheckDelayMs first. Rounds stop once every key is alike, or when a round found none newly alike (a
 * later round helps where the secondary's writes took longer than the settling wait to land).
 */
export async function recheck(r: Recheck, keys: readonly string[]): Promise<Rechecked> {
  let open = [...keys];
  let differing = new Map<string, Difference>();
  let read: SettledRead | undefined;
  const listsOnly = new Set<string>();
  let held: Map<string, CanonicalRecord> | undefined;
  for (let round = 0; round < r.rounds && open.length; round++) {
    const before = r.giveUpHeld ? new Map((await r.sides[other(r.primary)].recordsOf(open)).map((x) => [x.key, x])) : undefined;
    await sleep(r.tuning.recheckDelayMs);
    const now = await readSettled(r.table, r.service, open, r.primary, r.sides);
    read = now;
    held = before;
    differing = new Map();
    for (const key of open) {
      const judged = judge(r, now, key, before && { held: before.get(key) });
      if (judged.difference) differing.set(key, judged.difference);
      else if (judged.listsOnly) listsOnly.add(key);
    }
    const progressed = differing.size < open.length;
    open = [...differing.keys()];
    if (!progressed) break;
  }
  return { differing, listsOnly, ...(read ? { read } : {}), ...(held ? { held } : {}) };
}

/** The key's difference between the primary's read followed by what the secondary holds newer, and the secondary. */
function judge(r: Recheck, now: SettledRead, key: string, before?: { held: CanonicalRecord | undefined }): { difference?: Difference; listsOnly: boolean } {
  const secondary = other(r.primary);
  const first = now[r.primary].get(key);
  const second = now[secondary].get(key);
  const landed = before && second ? landedSince(before.held, second) : second;
  const newer = first && (now.live.has(key) ? withNewer(r.service, first, landed, r.tuning.timeToleranceS) : first);
  const moved = newer !== undefined && newer.lists.some((list, i) => list.length > first!.lists[i]!.length);
  // Each side's record holds the newest `retain` of a list (the legacy agent's window): so does the expectation. A
  // header the newer writes recomputed is the secondary's own, which no read from before them can match: such a key is
  // judged on its lists, its header left to a run that finds it quiet.
  const shape = serviceOf(r.service).record;
  const expected = newer && {
    ...newer,
    header: moved && shape.headerFollowsLists && second ? second.header : newer.header,
    lists: newer.lists.map((list, i) => list.slice(-(shape.lists[i]?.retain ?? list.length))),
  };
  const difference = r.primary === 'legacy' ? diffRecord(r.service, key, expected, second, r.tuning) : diffRecord(r.service, key, second, expected, r.tuning);
  return { ...(difference ? { difference } : {}), listsOnly: expected?.header !== newer?.header };
}
