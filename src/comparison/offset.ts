/**
 * How far the new side's times stand from legacy's in one comparison, when all its time differences agree: the
 * mark of a zone or a clock apart (memshift stamps the orchestrator's copies with its own clock and zone), not of
 * writes that went wrong one by one.
 */
import type { FieldDiff } from './compare.js';
import { isTime } from './values.js';
import { numberOf } from '../util/pyjson.js';

/** Offsets of a zone are quarter hours; a clock's, seconds. From ten minutes up an offset is taken for a zone's. */
const ZONE_FROM_S = 600;
const QUARTER_HOUR_S = 900;
/** How far one time difference may stray from the others' median and the comparison still count as steady. */
const SPREAD_S = 2;

function secondsApart(d: FieldDiff): number | undefined {
  if (isTime(d.legacy) && isTime(d.new)) return (Date.parse(d.new as string) - Date.parse(d.legacy as string)) / 1000;
  const a = numberOf(d.legacy);
  const b = numberOf(d.new);
  return a === undefined || b === undefined ? undefined : b - a;
}

/** New minus legacy in seconds, rounded to the quarter hour (a zone) or the second (a clock); undefined when not steady. */
export function steadyOffsetS(diffs: readonly FieldDiff[]): number | undefined {
  const apart = diffs.filter((d) => d.kind === 'timestamp').map(secondsApart);
  if (!apart.length || apart.some((s) => s === undefined || !Number.isFinite(s))) return undefined;
  const sorted = (apart as number[]).sort((x, y) => x - y);
  const median = sorted[sorted.length >> 1]!;
  if (sorted[0]! < median - SPREAD_S || sorted.at(-1)! > median + SPREAD_S) return undefined;
  const rounded = Math.abs(median) >= ZONE_FROM_S ? Math.round(median / QUARTER_HOUR_S) * QUARTER_HOUR_S : Math.round(median);
  return rounded || undefined;
}

/** `+5:45:00` for a zone's offset, `+2 s` for a clock's. */
export function offsetLabel(s: number): string {
  const sign = s < 0 ? '-' : '+';
  const a = Math.abs(s);
  if (a < ZONE_FROM_S) return `${sign}${a} s`;
  const two = (n: number) => String(n).padStart(2, '0');
  return `${sign}${Math.floor(a / 3600)}:${two(Math.floor((a % 3600) / 60))}:${two(a % 60)}`;
}

/**
 * The offset most of a day's timestamp differences showed (at least 80% of them), if any: what the report and
 * status name as a zone or a clock apart.
 */
export function dominantOffset(offsets: Readonly<Record<string, number>>, timestampMismatches: number): { offsetS: number; count: number } | undefined {
  const [top] = Object.entries(offsets).sort((a, b) => b[1] - a[1]);
  if (!top || !timestampMismatches || top[1] < 0.8 * timestampMismatches) return undefined;
  return { offsetS: Number(top[0]), count: top[1] };
}
