/**
 * Finding one write again on a legacy service through its own read actions, for writes whose outcome there
 * is unknown (legacy as the secondary at new-primary, or as the primary of a write memshift died during).
 * The legacy services take no write ids, so a write is recognised by the record it adds at the key's end.
 */
import { isLosslessNumber } from '../util/pyjson.js';
import type { LegacyLookup } from './service.js';
import type { LegacyRequest } from './types.js';

/** Python reads this as an int larger than any history's token count: get_context then cuts nothing. */
export const WHOLE_HISTORY = Number.MAX_SAFE_INTEGER;

/** A record as look-ups compare them. */
export const spell = (v: unknown): string => JSON.stringify(v ?? null, (_k, x: unknown) => (isLosslessNumber(x) ? Number(x.value) : x));

/**
 * Whether the write is among `records` (the key's records on the side now). Later writes of the key may
 * have landed there already (a primary goes on taking writes while an earlier one is looked up), so it is
 * counted, not looked for at the end: it is applied when its record appears more often than the key's
 * other writes known applied there (`others`, any order, since the last clear among them) account for.
 */
export function isApplied(
  lookup: LegacyLookup,
  write: LegacyRequest,
  records: readonly string[],
  others: readonly { request: LegacyRequest; seq: number }[],
): boolean {
  const effect = lookup.effect(write);
  if (!('adds' in effect)) return false;
  const present = records.filter((r) => r === effect.adds).length;
  let accounted = 0;
  for (const o of [...others].sort((a, b) => b.seq - a.seq)) {
    const e = lookup.effect(o.request);
    if ('clears' in e) break;
    if ('adds' in e && e.adds === effect.adds) accounted++;
  }
  return present > accounted;
}
