/**
 * One canonical record per legacy key (session id, user id), in the legacy shape, as both sides are read:
 * a header tuple and element lists of tuples. An element of a timed list ends with its legacy time (each side's
 * clock stamps live writes, so times are compared within a tolerance and digested to the whole second);
 * what remains is what a write through the translators preserves, so equal records mean "in sync".
 */
import { numberOf } from '../util/pyjson.js';

export interface CanonicalRecord {
  key: string;
  /** The key's own fields (session-memory: user_id, metadata); [] when it has none. */
  header: unknown[];
  /** Per list of the service's shape, its elements oldest first, each a tuple of the list's fields. */
  lists: unknown[][][];
  /**
   * Per list, the element just before its window where the side keeps more than the legacy service retains (the
   * orchestrator's history), else null; not compared. A header made over the window and one more (contextual's
   * snapshot, over the 51 newest) is made again alike by a side that takes this one before the window.
   */
  before?: (unknown[] | null)[];
}

export interface ListShape {
  name: string;
  fields: readonly string[];
  /** Each element ends with its legacy time, after `fields` (named `timestamp` in field diffs). */
  timed?: boolean;
  /** The legacy service keeps only the newest this many; the orchestrator's older ones are retained history. */
  retain?: number;
}

/** The name of an element's legacy time in field diffs and tolerance rules. */
export const TIME_FIELD = 'timestamp';

export interface RecordShape {
  header: readonly string[];
  /** Paths within the header holding a legacy time (e.g. `snapshot.last_updated`): compared within the tolerance. */
  headerTimes?: readonly string[];
  /** The header as digests see it: its times cut to the whole second (the orchestrator view's digestHeader in SQL). */
  digestHeader?(header: unknown[]): unknown[];
  /**
   * The header is computed from the lists by every write (contextual-memory's snapshot): a side holding writes newer
   * than a read of the other holds a header no such read can match.
   */
  headerFollowsLists?: boolean;
  lists: readonly ListShape[];
  /** A key with no elements does not exist (the service keeps keys implicitly, by their first write). */
  emptyIsAbsent: boolean;
}

export const isEmptyRecord = (r: CanonicalRecord): boolean => r.lists.every((l) => l.length === 0);

/** The record with named fields, for field-level diffs (`interactions[2].content`); single-field elements unwrapped. */
export function namedView(shape: RecordShape, r: CanonicalRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  shape.header.forEach((f, i) => (out[f] = r.header[i]));
  shape.lists.forEach(({ name, fields, timed }, i) => {
    const named = timed ? [...fields, TIME_FIELD] : fields;
    out[name] = (r.lists[i] ?? []).map((t) => (named.length === 1 ? t[0] : Object.fromEntries(named.map((f, j) => [f, t[j]]))));
  });
  return out;
}

/**
 * A legacy time as whole seconds: epoch seconds as they are, an ISO-8601 local time read as if UTC (as
 * PostgreSQL's `extract(epoch from text::timestamp)` reads it); null for anything else.
 */
export function wholeSeconds(v: unknown): number | null {
  const n = numberOf(v);
  if (n !== undefined) return Math.floor(n);
  if (typeof v !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?$/.test(v)) return null;
  return Math.floor(Date.parse(`${v.slice(0, 23)}Z`) / 1000);
}

/** A legacy time (jsonb) as whole seconds (jsonb), exactly as wholeSeconds makes it. */
export const wholeSecondsSql = (t: string) => `CASE jsonb_typeof(${t})
  WHEN 'number' THEN to_jsonb(floor((${t})::text::numeric))
  WHEN 'string' THEN CASE WHEN (${t} #>> '{}') ~ '^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(\\.\\d+)?$'
    THEN to_jsonb(floor(extract(epoch FROM left(${t} #>> '{}', 23)::timestamp))) ELSE 'null'::jsonb END
  ELSE 'null'::jsonb END`;

/** The record as digests see it: each timed element's time cut to the whole second (a tolerance compares the rest). */
export function digestForm(shape: RecordShape, r: CanonicalRecord): CanonicalRecord {
  if (!shape.lists.some((l) => l.timed) && !shape.digestHeader) return r;
  return {
    ...r,
    header: shape.digestHeader ? shape.digestHeader(r.header) : r.header,
    lists: r.lists.map((list, i) => (shape.lists[i]?.timed ? list.map((e) => [...e.slice(0, -1), wholeSeconds(e.at(-1))]) : list)),
  };
}

// --- key order ---------------------------------------------------------------------------------

const HIGH = /[\ud800-\uffff]/;

/**
 * Code point order (= UTF-8 byte order, PostgreSQL's COLLATE "C", SQLite's BINARY). JavaScript's `<`
 * compares UTF-16 units, which puts astral characters below U+E000..U+FFFF; only those need the slow path.
 */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  if (!HIGH.test(a) || !HIGH.test(b)) return a < b ? -1 : 1;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x < 0xe000 ? x + 0x2000 : x - 0x800;
      y = y < 0xe000 ? y + 0x2000 : y - 0x800;
    }
    return x - y;
  }
  return a.length - b.length;
}

/** Bounds of a range of keys, [from, to); an absent bound is open. */
export interface KeyBounds {
  from?: string;
  to?: string;
}

/** How a legacy store's file is read: `encoding`, a JSON store's text encoding (its agent's host's; default utf-8). */
export interface LegacyStoreOptions {
  encoding?: string;
}

/** A legacy store read as records in key order: all of them once, then ranges again on demand. */
export interface LegacyRecords {
  all(): Iterable<CanonicalRecord>;
  /** The records with keys in [from, to), in key order, at most `limit` of them. */
  between(range: KeyBounds, limit?: number): CanonicalRecord[];
  close?(): void;
}
