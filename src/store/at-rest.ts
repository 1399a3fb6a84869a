/** How the rows memshift keeps about users' data (mismatch samples, reconciliation differences) hold their values. */
import { makeRedactor, type Redact } from '../util/redact.js';

/** Redacted (the default: type, size and keyed hash), or in full and deleted once older than `retentionMs`. */
export type ValuesAtRest = { redact: Redact } | { retentionMs: number };

/** The redactor to store values through (none: full values) and how long full values are kept (none: redacted). */
export function atRestParts(atRest: ValuesAtRest = { redact: makeRedactor(true) }): { redact?: Redact; retentionMs?: number } {
  return 'redact' in atRest ? { redact: atRest.redact } : { retentionMs: atRest.retentionMs };
}
