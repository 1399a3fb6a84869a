/** How the rows memshift keeps about users' data (mismatch samples, reconciliation differences) hold their values. */
import type { Redact } from '../util/redact.js';

/** Redacted (the default: type, size and keyed hash), or in full and deleted once older than `retentionMs`. */
export type ValuesAtRest = { redact: Redact } | { retentionMs: number };
