/** What every simulated service model shares: the handle contract, write divergence, Python-isms. */
import { dumps, isFloat, isObject, numeric } from './python.js';

export interface WriteFault {
  /** The write is acknowledged as usual but stored altered, or not stored at all. */
  diverge?: 'alter' | 'drop';
}

export interface SimModel {
  /** One request (any JSON value) to the reply VALUE the service sends (bare values included). */
  handle(request: unknown, fault?: WriteFault): unknown;
}

export type JsonObject = Record<string, unknown>;

export { isObject };

/** Python's time.time(): epoch seconds with sub-millisecond digits, so it is never a whole number. */
export const epochSeconds = (): number => (performance.timeOrigin + performance.now()) / 1000;

/** Python's type name for a decoded JSON value, as it appears in AttributeError messages. */
function pyTypeName(v: unknown): string {
  if (v === null || v === undefined) return 'NoneType';
  if (typeof v === 'boolean') return 'bool';
  if (numeric(v) !== undefined) return isFloat(v) ? 'float' : 'int';
  if (typeof v === 'string') return 'str';
  return Array.isArray(v) ? 'list' : 'dict';
}

/** The message a Python service's `request.get(...)` raises for a request that is not a JSON object. */
export const noGetMessage = (v: unknown): string => `'${pyTypeName(v)}' object has no attribute 'get'`;

/** Python's str() of a value used in an f-string (e.g. "Unknown action: None"). */
export function pyStr(v: unknown): string {
  if (v === undefined || v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (numeric(v) !== undefined) return dumps(v);
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** A visibly different value of the same kind, for `alter` divergence. */
export function alterValue(v: unknown): unknown {
  if (typeof v === 'string') return `${v} [diverged]`;
  if (numeric(v) !== undefined) return numeric(v)! + 1;
  if (typeof v === 'boolean') return !v;
  if (Array.isArray(v)) return [...v, 'diverged'];
  if (isObject(v)) return { ...v, diverged: true };
  return 'diverged';
}

/**
 * Runs one write under a fault: `store` with the value as sent, with the altered value, or not at all.
 * Deletions pass no `alter` function: altering a deletion means not doing it.
 */
export function divergentWrite<T>(fault: WriteFault | undefined, value: T, store: (v: T) => void, alter?: (v: T) => T): void {
  if (fault?.diverge === 'drop' || (fault?.diverge === 'alter' && !alter)) return;
  store(fault?.diverge === 'alter' && alter ? alter(value) : value);
}
