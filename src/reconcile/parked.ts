/**
 * Parked copies a repair settles: writes whose outcome on their primary stayed unknown (ContextualMemoryAgent offers no
 * read of its interactions), their copies towards the truth parked, that the run finds at the end of that primary's
 * record, after everything the truth holds: the primary applied them, and the truth lacks only them.
 */
import { serviceOf, type ServiceName } from '../services/registry.js';
import type { CanonicalRecord } from '../services/records.js';
import { isObject } from '../services/legacy-values.js';
import { pyLoads } from '../util/pyjson.js';
import { jsonbText } from './canonical.js';
import { notKept, sameElement } from './newer.js';

/** A parked copy as the outbox holds it: its id and the agent's request. */
export interface ParkedCopy {
  id: string;
  request: Buffer;
}

/** The truth with the parked writes added at its end, and the parked copies they were. */
export interface Settled {
  record: CanonicalRecord;
  ids: string[];
}

/** A request field as compared: absent, null and an empty object alike (a file keeps metadata only when truthy). */
const spelt = (v: unknown): string => jsonbText(v === undefined || (isObject(v) && Object.keys(v).length === 0) ? null : v);

/** A parked row's request as its agent sent it; undefined where it is not one (an emptied row matches nothing). */
function requestOf(raw: Buffer): unknown {
  try {
    return pyLoads(raw);
  } catch {
    return undefined;
  }
}

/** The write that would add `element` to list `list` of `key`. */
const appendOf = (service: ServiceName, key: string, list: number, element: unknown[]) =>
  serviceOf(service).repair.append(key, list, element) as Record<string, unknown>;

/** Whether `request` is the write `made` (each field it sets, alike). */
const sameWrite = (made: Record<string, unknown>, request: Record<string, unknown>): boolean =>
  Object.keys(made).every((f) => spelt(made[f]) === spelt(request[f]));

/** Whether `request` is the write that would add `element` to list `list` of `key`. */
function writes(service: ServiceName, key: string, list: number, element: unknown[], request: Record<string, unknown>): boolean {
  return sameWrite(appendOf(service, key, list, element), request);
}

/**
 * Whether a parked copy's request may be the write of one of the elements of `lists` (per list of the service's shape):
 * it is one of their appends, or it cannot be told apart from them: unreadable, or of another kind (a clear, a write
 * of a list nothing of which is in `lists`), whose effect the repair may undo as well. The appends are made once, for
 * every parked row of the key asked.
 */
export function writesAnyOf(service: ServiceName, key: string, lists: readonly unknown[][][]): (raw: Buffer) => boolean {
  const appends = lists.flatMap((list, i) => list.map((e) => appendOf(service, key, i, e)));
  return (raw) => {
    const request = requestOf(raw);
    if (!isObject(request)) return true;
    return !appends.some((a) => a.action === request.action) || appends.some((a) => sameWrite(a, request));
  };
}

/**
 * `truth` followed by the elements of `primary` (the other side's record) it lacks, with `primary`'s header, where
 * each of them is among `primary`'s newest in its list, after the truth's own newest there, and is the write of one
 * of `parked` (the key's copies towards the truth parked with their primary's outcome unknown); else undefined.
 */
export function parkedAtEnd(
  service: ServiceName,
  truth: CanonicalRecord,
  primary: CanonicalRecord,
  parked: readonly ParkedCopy[],
  toleranceS: number,
): Settled | undefined {
  const lacking = notKept(service, primary, truth)?.record.lists;
  if (!lacking?.some((l) => l.length)) return undefined;
  const requests = parked.map((p) => ({ id: p.id, request: requestOf(p.request) }));
  const ids: string[] = [];
  const lists: unknown[][][] = [];
  for (const [i, list] of truth.lists.entries()) {
    const mine = primary.lists[i] ?? [];
    const lack = lacking[i] ?? [];
    const from = mine.length - lack.length;
    // The ones the truth lacks are the primary's newest (in its order), and the one before them is the truth's newest.
    if (lack.some((e, j) => mine[from + j] !== e)) return undefined;
    const [before, last] = [mine[from - 1], list.at(-1)];
    if (lack.length && (before === undefined ? last !== undefined : last === undefined || !sameElement(service, i, before, last, toleranceS))) return undefined;
    for (const e of lack) {
      const at = requests.findIndex((p) => isObject(p.request) && writes(service, truth.key, i, e, p.request));
      if (at < 0) return undefined;
      ids.push(requests[at]!.id);
      requests.splice(at, 1);
    }
    lists.push([...list, ...lack]);
  }
  return { record: { key: truth.key, header: primary.header, lists }, ids };
}
