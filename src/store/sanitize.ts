/**
 * Values made storable before they are queued: a row PostgreSQL rejects would otherwise be retried,
 * and fail, with its whole batch on every flush.
 */

// NUL is not allowed in text or jsonb strings, nor are unpaired UTF-16 surrogates in jsonb.
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export const cleanText = (s: unknown): string => String(s).replace(UNSTORABLE, '\uFFFD');

/** jsonb text for any value (undefined becomes null); throws on what JSON cannot hold (cycles, BigInt). */
export const jsonText = (value: unknown): string => JSON.stringify(value ?? null, (_k, v: unknown) => (typeof v === 'string' ? cleanText(v) : v));

/** SQLSTATE class 22: the data itself was refused, so retrying the same batch cannot succeed. */
export const isDataError = (err: unknown): boolean => typeof (err as { code?: unknown })?.code === 'string' && (err as { code: string }).code.startsWith('22');
