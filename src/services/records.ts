/**
 * One canonical record per legacy key (session id, user id), in the legacy shape, as both sides are read:
 * a header tuple and element lists of tuples. Timestamps are left out (each side stamps its own clock);
 * what remains is what a write through the translators preserves, so equal records mean "in sync".
 */
export interface CanonicalRecord {
  key: string;
  /** The key's own fields (session-memory: user_id, metadata); [] when it has none. */
  header: unknown[];
  /** Per list of the service's shape, its elements oldest first, each a tuple of the list's fields. */
  lists: unknown[][][];
}

export interface RecordShape {
  header: readonly string[];
  lists: readonly { name: string; fields: readonly string[] }[];
  /** A key with no elements does not exist (the service keeps keys implicitly, by their first write). */
  emptyIsAbsent: boolean;
}

const isEmptyRecord = (r: CanonicalRecord): boolean => r.lists.every((l) => l.length === 0);

/** The record with named fields, for field-level diffs (`interactions[2].content`); single-field elements unwrapped. */
export function namedView(shape: RecordShape, r: CanonicalRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  shape.header.forEach((f, i) => (out[f] = r.header[i]));
  shape.lists.forEach(({ name, fields }, i) => {
    out[name] = (r.lists[i] ?? []).map((t) => (fields.length === 1 ? t[0] : Object.fromEntries(fields.map((f, j) => [f, t[j]]))));
  });
  return out;
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

/** A legacy store read as records in key order: all of them once, then ranges again on demand. */
export interface LegacyRecords {
  all(): Iterable<CanonicalRecord>;
  /** The records with keys from `first` to `last` (inclusive), in key order. */
  between(first: string, last: string): CanonicalRecord[];
  close?(): void;
}

/** A store kept as a map of keys (the JSON stores): keys sorted, empty records dropped (keys live by their writes). */
export function keyedRecords(keys: string[], record: (key: string) => CanonicalRecord): LegacyRecords {
  const kept: string[] = [];
  const sorted = keys.sort(compareKeys);
  return {
    *all() {
      for (const key of sorted) {
        const r = record(key);
        if (isEmptyRecord(r)) continue;
        kept.push(key);
        yield r;
      }
    },
    between(first, last) {
      const i = lowerBound(kept, first);
      const j = lowerBound(kept, last, true);
      return kept.slice(i, j).map(record);
    },
  };
}

/** The first index whose key is above `key` (`after`) or not below it. */
function lowerBound(keys: readonly string[], key: string, after = false): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const c = compareKeys(keys[mid]!, key);
    if (c < 0 || (after && c === 0)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
