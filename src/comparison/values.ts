/** The comparison's reading of single values: their kind, numbers and times within a tolerance, canonical text. */
import { isLosslessNumber, numberOf, pyDumps } from '../util/pyjson.js';

/** Deeper than this, nodes are compared by identity: guards the stack against hostile nesting and cycles. */
export const MAX_DEPTH = 256;
/** Stands in for a value that cannot be copied (functions, nesting beyond the stack). */
export const UNCOPYABLE = '[uncopyable]';

export type Kind = 'null' | 'array' | 'object' | 'number' | 'string' | 'boolean' | 'undefined' | 'other';

export function kindOf(v: unknown): Kind {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (isLosslessNumber(v)) return 'number';
  const t = typeof v;
  return t === 'object' || t === 'number' || t === 'string' || t === 'boolean' || t === 'undefined' ? t : 'other';
}

export function numbersEqual(a: number, b: number, tolerance: number): boolean {
  if (a === b) return true;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return Number.isNaN(a) && Number.isNaN(b);
  // The slack absorbs the rounding of subtracting large floats (epoch seconds), keeping the bound inclusive.
  return tolerance > 0 && Math.abs(a - b) - tolerance <= 4 * Number.EPSILON * Math.max(Math.abs(a), Math.abs(b));
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?$/;

/** Whether two ISO-8601 local times (Python's isoformat, no zone) lie within `seconds` of each other. */
export function timesWithin(a: string, b: string, seconds: number): boolean {
  if (!ISO_TIME.test(a) || !ISO_TIME.test(b)) return false;
  return Math.abs(Date.parse(a) - Date.parse(b)) <= seconds * 1000;
}

export const isTime = (v: unknown): boolean => typeof v === 'string' && ISO_TIME.test(v);

/**
 * Whether a number reads as epoch seconds as Python's time.time() writes them: a float (spelt with a point or
 * an exponent) from 2001 to 2286. An integer of that size (an id, a count) is not taken for a time.
 */
export function isEpochTime(v: unknown): boolean {
  const n = numberOf(v);
  if (n === undefined || n < 1e9 || n >= 1e10) return false;
  return isLosslessNumber(v) ? /[.eE]/.test(v.value) : !Number.isInteger(n);
}

/** Whether two lists hold the same elements, counted, in whatever order (canonical text, as set keys are). */
export function sameElements(a: readonly unknown[], b: readonly unknown[], trim: boolean): boolean {
  try {
    return sameCounts(a, b, trim);
  } catch (err) {
    // Too deep to tell: not known to be the same elements.
    if (err instanceof TooDeep) return false;
    throw err;
  }
}

function sameCounts(a: readonly unknown[], b: readonly unknown[], trim: boolean): boolean {
  const count = new Map<string, number>();
  for (const x of a) count.set(canonical(x, trim), (count.get(canonical(x, trim)) ?? 0) + 1);
  for (const x of b) {
    const k = canonical(x, trim);
    const n = count.get(k);
    if (!n) return false;
    count.set(k, n - 1);
  }
  return true;
}

/** Numbers as written: the same text, or (a value JavaScript made) the same value. */
export function sameNumber(a: unknown, b: unknown): boolean {
  // Two numbers as read: equal when Python would write them alike (1e-05 and 0.00001; not 3.0 and 3).
  if (isLosslessNumber(a) && isLosslessNumber(b)) return a.value === b.value || pyDumps(a) === pyDumps(b);
  return numbersEqual(numberOf(a)!, numberOf(b)!, 0) && (!isLosslessNumber(a) || a.value === pyDumps(b)) && (!isLosslessNumber(b) || b.value === pyDumps(a));
}

class TooDeep extends Error {}

/** canonical(), with every value nested too deep sharing one text (a set key that deep is not told apart). */
export function canonicalOrDeep(v: unknown, trim: boolean): string {
  try {
    return canonical(v, trim);
  } catch (err) {
    if (err instanceof TooDeep) return UNCOPYABLE;
    throw err;
  }
}

/** Stable text of a value (object keys sorted): the identity of a set element. Throws TooDeep past MAX_DEPTH. */
function canonical(v: unknown, trim: boolean, depth = 0): string {
  if (depth > MAX_DEPTH) throw new TooDeep();
  switch (kindOf(v)) {
    case 'string':
      return JSON.stringify(trim ? (v as string).trim() : v);
    case 'array':
      return `[${(v as unknown[]).map((x) => canonical(x, trim, depth + 1)).join(',')}]`;
    case 'object': {
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o)
        .filter((k) => o[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(o[k], trim, depth + 1)}`).join(',')}}`;
    }
    case 'number':
      return isLosslessNumber(v) ? v.value : pyDumps(v);
    default:
      return String(v);
  }
}

export function pick(v: unknown, keyPath: readonly string[]): unknown {
  for (const k of keyPath) {
    if (kindOf(v) !== 'object' || !Object.hasOwn(v as object, k)) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}
