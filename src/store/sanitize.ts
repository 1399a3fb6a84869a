/**
 * Values made storable before they are queued: a row PostgreSQL rejects would otherwise be retried,
 * and fail, with its whole batch on every flush.
 */

import { isLosslessNumber, pyDumps } from '../util/pyjson.js';

// NUL is not allowed in text or jsonb strings, nor are unpaired UTF-16 surrogates in jsonb.
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export const cleanText = (s: unknown): string => String(s).replace(UNSTORABLE, '\uFFFD');

/** What jsonb holds of a value: strings and keys cleaned, NaN and Infinity as null, numbers as written. */
function storable(value: unknown): unknown {
  if (typeof value === 'string') return cleanText(value);
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (Array.isArray(value)) return value.map(storable);
  if (typeof value === 'object' && value !== null && !isLosslessNumber(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [cleanText(k), storable(v)]));
  }
  return value;
}

/** jsonb text for any value (undefined becomes null). */
export const jsonText = (value: unknown): string => pyDumps(storable(value ?? null));

const sqlState = (err: unknown): string | undefined => {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
};

/** SQLSTATE class 22: the data itself was refused, so retrying the same batch cannot succeed. */
export const isDataError = (err: unknown): boolean => sqlState(err)?.startsWith('22') === true;

/**
 * A deadlock (40P01) or a serialization failure (40001): the store answered, and rolled the statement back for a
 * conflict with another's; the same statement may be sent again. Not an outage.
 */
export const isConflict = (err: unknown): boolean => ['40P01', '40001'].includes(sqlState(err) ?? '');
