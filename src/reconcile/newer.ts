/**
 * What a side holds beyond a truth read a while ago: the elements that landed there since (live writes of the key),
 * which a rewrite of the key to that truth alone would wipe; what a rewrite gives up; and element equality as the
 * reconciler judges it (each side stamps a live write with its own clock, so times agree within the tolerance).
 */
import { isDeepStrictEqual } from 'node:util';
import { serviceOf, type ServiceName } from '../services/registry.js';
import type { CanonicalRecord } from '../services/records.js';
import { numberOf } from '../util/pyjson.js';
import { jsonbText } from './canonical.js';
import { diffRecord } from './diff.js';

/**
 * An element's time as comparable milliseconds: epoch seconds, or an ISO-8601 local time (both sides spell it alike)
 * with its microseconds kept (Date.parse would cut them, and two writes of a key may be less than 1 ms apart).
 */
function millisOf(v: unknown): number | undefined {
  const n = numberOf(v);
  if (n !== undefined) return n * 1000;
  const iso = typeof v === 'string' ? /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?$/.exec(v) : null;
  if (!iso) return undefined;
  const t = Date.parse(iso[1]!);
  return Number.isNaN(t) ? undefined : t + Number(iso[2] ?? 0) * 1000;
}

/** Two elements of list `i` alike as the reconciler judges them: equal as compared, times within `toleranceS`. */
export function sameElement(service: ServiceName, i: number, a: unknown[], b: unknown[], toleranceS: number): boolean {
  if (isDeepStrictEqual(a, b)) return true;
  const one = (e: unknown[]): CanonicalRecord => ({ key: '', header: [], lists: serviceOf(service).record.lists.map((_, j) => (j === i ? [e] : [])) });
  return !diffRecord(service, '', one(a), one(b), { maxFieldDiffs: 1, timeToleranceS: toleranceS });
}

/** Element `e`'s time less element `than`'s, in ms; 0 when either has none. */
const apartMs = (e: unknown[], than: unknown[]): number => {
  const [t, u] = [millisOf(e.at(-1)), millisOf(than.at(-1))];
  return t === undefined || u === undefined ? 0 : t - u;
};
const newerThan = (e: unknown[], than: unknown[]): boolean => apartMs(e, than) > 0;
/** Element `e` stamped earlier than element `than` (false where either has no time). */
export const olderThan = (e: unknown[], than: unknown[]): boolean => apartMs(e, than) < 0;
const stampedBefore = (e: unknown[], than: unknown[], toleranceS: number): boolean => apartMs(e, than) < -toleranceS * 1000;

/**
 * What landed on a side between two reads of a key: `now` without the elements `before` held already. A repair told to
 * give up what the side held beyond the truth when the run read it keeps only these after the truth.
 */
export function landedSince(before: CanonicalRecord | undefined, now: CanonicalRecord): CanonicalRecord {
  if (!before) return now;
  return { ...now, lists: now.lists.map((list, i) => list.filter((e) => !(before.lists[i] ?? []).some((b) => isDeepStrictEqual(b, e)))) };
}

/**
 * `truth` followed, in each timed list, by what `current` holds after the truth's newest element: the newest
 * elements stamped later than it, after its copy there if it has one (and later than the copy), none of them a copy of
 * one of the truth's elements (`copiesOf`); in a list the truth
 * holds nothing of, those stamped later than its newest element of any list. A truth read
 * before live writes of the key landed on the side thus keeps them; one that already holds them finds their copies
 * and adds nothing; an element not newer (a stray one, a changed one) is not kept.
 */
export function withNewer(service: ServiceName, truth: CanonicalRecord, current: CanonicalRecord | undefined, toleranceS: number): CanonicalRecord {
  if (!current) return truth;
  const shape = serviceOf(service).record;
  // A list the truth holds nothing of (a session's decisions before its first) keeps what is newer than the truth's
  // newest element of any list: without one, a live decision on a session with none yet was wiped.
  const newest = truth.lists
    .filter((_, i) => shape.lists[i]?.timed)
    .flatMap((list) => list.slice(-1))
    .reduce<unknown[] | undefined>((a, e) => (a === undefined || newerThan(e, a) ? e : a), undefined);
  const lists = truth.lists.map((list, i) => {
    const last = list.at(-1);
    const than = last ?? newest;
    const mine = current.lists[i] ?? [];
    if (!shape.lists[i]?.timed || !than) return list;
    let copy = last ? mine.length - 1 : -1;
    while (copy >= 0 && !sameElement(service, i, mine[copy]!, last!, toleranceS)) copy--;
    // A live write's copy is stamped when memshift saw its primary acknowledge it, later than the primary's own stamp:
    // past the tolerance (a slow answer), it is the first element alike in all but time and not stamped before it.
    if (last && copy < 0) copy = mine.findIndex((e) => !stampedBefore(e, last, toleranceS) && sameElement(service, i, e, last, Number.POSITIVE_INFINITY));
    // A copy of one of the truth's elements stamped late (its primary answered slowly) is no write that landed since,
    // though stamped after the truth's newest where the side lacks that one.
    let copies: Set<unknown[]> | undefined;
    const newer = (e: unknown[]) => newerThan(e, than) && (copy < 0 || newerThan(e, mine[copy]!)) && !(copies ??= copiesOf(mine, list, toleranceS)).has(e);
    let from = mine.length;
    while (from > copy + 1 && newer(mine[from - 1]!)) from--;
    return from < mine.length ? [...list, ...mine.slice(from)] : list;
  });
  return { ...truth, lists };
}

/**
 * The side's elements of a timed list that are copies of the truth's, matched in order: each alike one of them in all but
 * time (as jsonb spells it) and not stamped before it, after the one the previous copy matched. In order, so that a live
 * write repeating an older element's text, which the side lacks, is not taken for that element's copy.
 */
function copiesOf(mine: unknown[][], truth: unknown[][], toleranceS: number): Set<unknown[]> {
  // Per text, its places in the truth, and how many of them lie before the last match (passed for good).
  const at = new Map<string, { places: number[]; passed: number }>();
  truth.forEach((e, j) => {
    const k = jsonbText(e.slice(0, -1));
    const seen = at.get(k);
    if (seen) seen.places.push(j);
    else at.set(k, { places: [j], passed: 0 });
  });
  const found = new Set<unknown[]>();
  let from = 0;
  for (const e of mine) {
    const alike = at.get(jsonbText(e.slice(0, -1)));
    if (!alike) continue;
    while (alike.passed < alike.places.length && alike.places[alike.passed]! < from) alike.passed++;
    const j = alike.places.slice(alike.passed).find((j) => !stampedBefore(e, truth[j]!, toleranceS));
    if (j === undefined) continue;
    found.add(e);
    from = j + 1;
  }
  return found;
}

/** What a repair giving a side's extra writes up takes from it: elements, and its header where that goes too. */
export interface GivenUpPart {
  record: CanonicalRecord;
  /** The header goes too (the key removed, or its own fields rewritten). */
  header: boolean;
}

/**
 * What `now` (a side's record) holds that `target` (what the repair leaves there) does not keep: each element matched
 * once, alike exactly first, then alike in all but time (the same write stamped by each side's clock); undefined when
 * nothing goes.
 */
export function notKept(service: ServiceName, now: CanonicalRecord | undefined, target: CanonicalRecord | undefined): GivenUpPart | undefined {
  if (!now) return undefined;
  const shape = serviceOf(service).record;
  const lists = now.lists.map((list, i) => {
    const untimed = (e: unknown[]) => (shape.lists[i]?.timed ? e.slice(0, -1) : e);
    const [unlike, rest] = unmatched(list, target?.lists[i] ?? [], (e) => e);
    return unmatched(unlike, rest, untimed)[0];
  });
  const header = shape.header.length > 0 && (!target || (!shape.headerFollowsLists && !isDeepStrictEqual(now.header, target.header)));
  return header || lists.some((l) => l.length) ? { record: { ...now, lists }, header } : undefined;
}

/**
 * Each element of `list` matched with one of `other` alike by `form`, once: the elements of each left unmatched. Alike
 * as jsonb spells them, so an object's keys in another order still match (an interaction's metadata in the agent's file
 * against the orchestrator's jsonb: every code interaction counted as lacking, `npm run chaos` seed 343).
 */
function unmatched(list: unknown[][], other: unknown[][], form: (e: unknown[]) => unknown[]): [unknown[][], unknown[][]] {
  const left = new Map<string, unknown[][]>();
  for (const e of other) {
    const k = jsonbText(form(e));
    const alike = left.get(k);
    if (alike) alike.push(e);
    else left.set(k, [e]);
  }
  const alone = list.filter((e) => !left.get(jsonbText(form(e)))?.pop());
  return [alone, [...left.values()].flat()];
}
