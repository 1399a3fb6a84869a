/**
 * Redaction of the values a report shows: diffs carry users' memories, so by default a value becomes its
 * type, size and a short keyed hash. The hash key is drawn once per report: within one report equal values
 * hash alike (so legacy vs new can still be told equal or not), yet short texts cannot be guessed by
 * hashing candidates, and hashes do not link values across reports.
 */
import { createHmac, randomBytes } from 'node:crypto';

export type Redact = (value: unknown) => unknown;

export interface RedactedDiff {
  path: string;
  legacy: unknown;
  new: unknown;
}

/** The identity when `enabled` is false; otherwise a describer of values without their content. */
export function makeRedactor(enabled: boolean, key: Buffer = randomBytes(16)): Redact {
  if (!enabled) return (v) => v;
  const hash = (text: string) => createHmac('sha256', key).update(text).digest('hex').slice(0, 8);
  return (v) => {
    if (v === undefined) return '‹absent›';
    if (v === null || typeof v === 'boolean') return v;
    if (typeof v === 'string') return `‹string, ${[...v].length} chars, #${hash(`s${v}`)}›`;
    if (typeof v === 'number') return `‹number, #${hash(`n${v}`)}›`;
    let json: string;
    try {
      json = JSON.stringify(v) ?? String(v);
    } catch {
      json = String(v);
    }
    if (Array.isArray(v)) return `‹array, ${v.length} items, #${hash(`a${json}`)}›`;
    if (typeof v === 'object') return `‹object, ${Object.keys(v).length} keys, #${hash(`o${json}`)}›`;
    return `‹${typeof v}›`;
  };
}

/** A field diff as the report shows it; a diff of the wrong shape keeps only what is safe to show. */
export function redactDiff(d: unknown, redact: Redact): RedactedDiff {
  const entry = (d && typeof d === 'object' ? d : {}) as Record<string, unknown>;
  return {
    path: typeof entry.path === 'string' ? entry.path : '(unknown path)',
    legacy: redact(entry.legacy),
    new: redact(entry.new),
  };
}
