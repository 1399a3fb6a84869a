/**
 * Values described without their content: users' memories must not be shown or stored in clear. A value becomes
 * its type, size and a short keyed hash: under one key equal values hash alike (legacy vs new can still be told
 * equal or not), yet short texts cannot be guessed by hashing candidates without the key.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { isLosslessNumber } from 'lossless-json';

export type Redact = (value: unknown) => unknown;

/** What a redacted value looks like; redacting one again leaves it as it is. */
const REDACTED = /^‹.*›$/s;

/** The identity when `enabled` is false; otherwise a describer of values without their content. */
export function makeRedactor(enabled: boolean, key: Buffer = randomBytes(16)): Redact {
  if (!enabled) return (v) => v;
  const hash = (text: string) => createHmac('sha256', key).update(text).digest('hex').slice(0, 8);
  return (v) => {
    if (v === undefined) return '‹absent›';
    if (v === null || typeof v === 'boolean') return v;
    if (typeof v === 'string') return REDACTED.test(v) ? v : `‹string, ${[...v].length} chars, #${hash(`s${v}`)}›`;
    if (typeof v === 'number' || isLosslessNumber(v)) return `‹number, #${hash(`n${String(v)}`)}›`;
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

/** The value's shape kept (object keys, list lengths), every leaf redacted: a reply can still be laid side by side. */
export function redactDeep(value: unknown, redact: Redact): unknown {
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, redact));
  if (typeof value === 'object' && value !== null && !isLosslessNumber(value))
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v, redact)]));
  return redact(value);
}

export interface RedactedDiff {
  path: string;
  /** The path in rule form (context[].content), when the diff had one. */
  field?: string;
  legacy: unknown;
  new: unknown;
}

/** A field diff with its values redacted; a diff of the wrong shape keeps only what is safe to show. */
export function redactDiff(d: unknown, redact: Redact): RedactedDiff {
  const entry = (d && typeof d === 'object' ? d : {}) as Record<string, unknown>;
  return {
    path: typeof entry.path === 'string' ? entry.path : '(unknown path)',
    ...(typeof entry.field === 'string' ? { field: entry.field } : {}),
    legacy: redact(entry.legacy),
    new: redact(entry.new),
  };
}
