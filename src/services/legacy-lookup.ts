/**
 * Finding one write again on a legacy service through its own read actions, for writes whose outcome there
 * is unknown (legacy as the secondary at new-primary, or as the primary of a write memshift died during).
 * The legacy services take no write ids, so a write is recognised by the record it adds at the key's end.
 */
import { createHash } from 'node:crypto';
import { isLosslessNumber } from '../util/pyjson.js';
import type { LegacyLookup } from './service.js';
import type { LegacyRequest } from './types.js';

/** Python reads this as an int larger than any history's token count: get_context then cuts nothing. */
export const WHOLE_HISTORY = Number.MAX_SAFE_INTEGER;

/** A record as look-ups compare them. */
export const spell = (v: unknown): string => JSON.stringify(v ?? null, (_k, x: unknown) => (isLosslessNumber(x) ? Number(x.value) : x));

const digest = (record: string): string => createHash('sha256').update(record).digest('hex');

/**
 * A write's effect as a finished outbox row keeps it once its request (the user's text) is scrubbed:
 * `adds:<sha-256 of the record it adds>`, `clears`, or `neutral`.
 */
export function effectDigest(lookup: LegacyLookup, write: LegacyRequest): string {
  const e = lookup.effect(write);
  return 'adds' in e ? `adds:${digest(e.adds)}` : 'clears' in e ? 'clears' : 'neutral';
}

/**
 * Where the write is among `records` (the key's records on the side now), or -1 when it is not. Later writes
 * of the key may have landed there already (a primary goes on taking writes while an earlier one is looked
 * up), so it is counted, not looked for at the end: it is applied when its record appears more often than the
 * key's other writes known applied there (`others`, their effectDigest, any order, since the last clear)
 * account for. Its place is then the newest such record (exact unless the key holds the same record twice).
 */
export function appliedAt(lookup: LegacyLookup, write: LegacyRequest, records: readonly string[], others: readonly { effect: string; seq: number }[]): number {
  const effect = effectDigest(lookup, write);
  if (!effect.startsWith('adds:')) return -1;
  const places = records.flatMap((r, i) => (`adds:${digest(r)}` === effect ? [i] : []));
  let accounted = 0;
  for (const o of [...others].sort((a, b) => b.seq - a.seq)) {
    if (o.effect === 'clears') break;
    if (o.effect === effect) accounted++;
  }
  return places.length > accounted ? places.at(-1)! : -1;
}

/**
 * Whether a clear whose outcome on a side is unknown landed there, from what the key holds there now (`records`) and
 * the effects of the key's writes made after the clear (`later`, effectDigest, landed or not yet): it did when each
 * record is one of theirs, counted (the same record written twice needs two). A record none of them accounts for was
 * there before the clear, so the clear never applied. Where nothing was left from before it, either answer leaves the
 * same state: applied. `later` holds writes still on their way too (read after the records, it may hold some made
 * since): one whose record equals a record from before the clear makes a clear that never landed look landed.
 */
export function clearLanded(records: readonly string[], later: readonly string[]): boolean {
  const unspent = new Map<string, number>();
  for (const e of later) unspent.set(e, (unspent.get(e) ?? 0) + 1);
  for (const r of records) {
    const effect = `adds:${digest(r)}`;
    const left = unspent.get(effect) ?? 0;
    if (left === 0) return false;
    unspent.set(effect, left - 1);
  }
  return true;
}
