/**
 * The comparison at the heart of the reconciler, as data-diff does it: checksum key ranges on both sides,
 * split the ranges whose checksums differ, and fetch records only for small differing ranges, so the work
 * beyond one checksum pass follows the number of differences, not the size of the data.
 */
import { compare } from '../comparison/compare.js';
import { serviceOf, type ServiceName } from '../services/registry.js';
import { compareKeys, namedView, TIME_FIELD, type CanonicalRecord } from '../services/records.js';
import type { KeyRange } from './canonical.js';
import { sameChecksum, type RangeChecksum, type RecordSource } from './source.js';
import type { Difference } from './runs.js';
import { mapLimit, type RateLimiter } from './pace.js';

export interface DiffTuning {
  /** A differing range with at most this many keys on either side is fetched and compared record by record. */
  leafSize: number;
  /** A larger differing range is split into this many parts. */
  fanout: number;
  /** Field diffs kept per differing record. */
  maxFieldDiffs: number;
  /** Seconds two legacy times of one element may differ by (each side stamps live writes with its own clock). */
  timeToleranceS: number;
}

export type RecordTuning = Pick<DiffTuning, 'maxFieldDiffs' | 'timeToleranceS'>;

/** Comparison rules of a service's records: its element times within the tolerance. */
function recordRules(service: ServiceName, t: RecordTuning) {
  const shape = serviceOf(service).record;
  const paths = [...shape.lists.filter((l) => l.timed).map((l) => `${l.name}[].${TIME_FIELD}`), ...(shape.headerTimes ?? [])];
  return { maxDiffs: t.maxFieldDiffs, tolerance: Object.fromEntries(paths.map((p) => [p, t.timeToleranceS])) };
}

export interface DiffStats {
  rangesChecked: number;
  recordsFetched: number;
  /** Keys on each side in the ranges given (their first checksums). */
  legacyRecords: number;
  newRecords: number;
}

export const emptyStats = (): DiffStats => ({ rangesChecked: 0, recordsFetched: 0, legacyRecords: 0, newRecords: 0 });

/** The difference between two versions of one key (undefined = absent), or undefined when they agree. */
export function diffRecord(
  service: ServiceName,
  key: string,
  legacy: CanonicalRecord | undefined,
  neu: CanonicalRecord | undefined,
  tuning: RecordTuning,
): Difference | undefined {
  if (!legacy && !neu) return undefined;
  if (!neu) return { key, kind: 'missing_in_new', diffs: [] };
  if (!legacy) return { key, kind: 'missing_in_legacy', diffs: [] };
  const c = compare(namedView(serviceOf(service).record, legacy), namedView(serviceOf(service).record, neu), recordRules(service, tuning));
  return c.equal ? undefined : { key, kind: 'differing', diffs: c.diffs };
}

/** Merge-joins two key-ordered record lists into their differences. */
function diffRecords(service: ServiceName, legacy: CanonicalRecord[], neu: CanonicalRecord[], tuning: RecordTuning): Difference[] {
  const out: Difference[] = [];
  let i = 0;
  let j = 0;
  while (i < legacy.length || j < neu.length) {
    const l = legacy[i];
    const n = neu[j];
    const order = !l ? 1 : !n ? -1 : compareKeys(l.key, n.key);
    const d =
      order < 0
        ? diffRecord(service, l!.key, l, undefined, tuning)
        : order > 0
          ? diffRecord(service, n!.key, undefined, n, tuning)
          : diffRecord(service, l!.key, l, n, tuning);
    if (d) out.push(d);
    if (order <= 0) i++;
    if (order >= 0) j++;
  }
  return out;
}

/** Sub-ranges of `r` cut at `keys` (ascending, inside r). */
export function cut(r: KeyRange, keys: string[]): KeyRange[] {
  const bounds = [r.from, ...keys, r.to];
  return bounds.slice(1).map((to, i) => ({ ...(bounds[i] === undefined ? {} : { from: bounds[i] }), ...(to === undefined ? {} : { to }) }));
}

/**
 * Every difference inside `ranges`, bisecting level by level (each level's checksums in one round). `newFirst`:
 * the new side's checksums of `ranges` themselves, when the caller asked for them ahead.
 */
export async function bisect(
  service: ServiceName,
  legacy: RecordSource,
  neu: RecordSource,
  ranges: KeyRange[],
  tuning: DiffTuning,
  stats: DiffStats,
  limiter?: RateLimiter,
  newFirst?: Promise<RangeChecksum[]>,
): Promise<Difference[]> {
  const found: Difference[] = [];
  let level = ranges;
  for (let depth = 0; level.length; depth++) {
    const [ls, ns] = await Promise.all([legacy.checksums(level), (depth === 0 && newFirst) || neu.checksums(level)]);
    stats.rangesChecked += level.length;
    if (depth === 0) {
      stats.legacyRecords += ls.reduce((a, c) => a + c.count, 0);
      stats.newRecords += ns.reduce((a, c) => a + c.count, 0);
    }
    await limiter?.take(level.reduce((a, _, i) => a + Math.max(ls[i]!.count, ns[i]!.count), 0));
    const next: KeyRange[] = [];
    const leaves: KeyRange[] = [];
    await mapLimit(level, 4, async (r, i) => {
      const [l, n] = [ls[i]!, ns[i]!];
      if (sameChecksum(l, n)) return;
      if (Math.max(l.count, n.count) <= tuning.leafSize) return void leaves.push(r);
      const keys = await (l.count >= n.count ? legacy : neu).splitKeys(r, tuning.fanout);
      if (keys.length === 0) leaves.push(r);
      else next.push(...cut(r, keys));
    });
    const results = await mapLimit(leaves, 4, async (r) => {
      const [l, n] = await Promise.all([legacy.records(r), neu.records(r)]);
      stats.recordsFetched += l.length + n.length;
      return diffRecords(service, l, n, tuning);
    });
    found.push(...results.flat());
    // Sibling ranges finish in any order; keep them in key order for the next level and the caller.
    level = next.sort((a, b) => compareKeys(a.from ?? '', b.from ?? ''));
  }
  return found.sort((a, b) => compareKeys(a.key, b.key));
}
