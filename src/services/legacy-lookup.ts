/**
 * Finding one write again on a legacy service through its own read actions, for writes whose outcome there
 * is unknown (legacy as the secondary at new-primary, or as the primary of a write memshift died during).
 * The legacy services take no write ids, so a write is recognised by the record it adds at the key's end.
 */
import type { ServiceName } from './catalog.js';
import { isObject } from './legacy-values.js';
import type { LegacyRequest } from './types.js';

/** Python reads this as an int larger than any history's token count: get_context then cuts nothing. */
const WHOLE_HISTORY = Number.MAX_SAFE_INTEGER;

/**
 * What a write is to a look-up: it adds one record (spelt as `records` spells them); it clears the key
 * (records before it are gone); or it adds no record (a session made, a read).
 */
type WriteEffect = { adds: string } | { clears: true } | { neutral: true };

export interface LegacyLookup {
  effect(request: LegacyRequest): WriteEffect;
  /** The read that shows the records the write adds, or undefined when the service has none (it cannot be found). */
  read(request: LegacyRequest): LegacyRequest | undefined;
  /** The key's records from the read's reply, oldest first; undefined when the reply says nothing usable. */
  records(reply: unknown): string[] | undefined;
}

const spell = (v: unknown): string => JSON.stringify(v ?? null);

const LOOKUPS: Record<ServiceName, LegacyLookup> = {
  'session-memory': {
    effect: (r) =>
      r.action === 'add_interaction'
        ? { adds: spell([r.role, r.content]) }
        : r.action === 'clear_session' || r.action === 'delete_session'
          ? { clears: true }
          : { neutral: true },
    read: (r) => ({ action: 'get_context', session_id: r.session_id, max_tokens: WHOLE_HISTORY }),
    records: (reply) => (isObject(reply) && Array.isArray(reply.context) ? reply.context.map((e) => spell(isObject(e) ? [e.role, e.content] : e)) : undefined),
  },
  'jarvis-memory': {
    effect: (r) => (r.action === 'add_memory' ? { adds: spell(r.memory) } : r.action === 'clear_memories' ? { clears: true } : { neutral: true }),
    read: (r) => ({ action: 'get_memories', ...(r.user_id === undefined ? {} : { user_id: r.user_id }) }),
    records: (reply) => (isObject(reply) && Array.isArray(reply.memories) ? reply.memories.map((m) => spell(isObject(m) ? m.memory : m)) : undefined),
  },
  'contextual-memory': {
    // Decisions show in the stored summary; interactions show nowhere on the wire (only in the agent's file),
    // so they cannot be found and do not break a run of decisions.
    effect: (r) => (r.action === 'record_decision' ? { adds: spell(r.decision) } : { neutral: true }),
    read: (r) => (r.action === 'record_decision' ? { action: 'get_context', session_id: r.session_id, max_tokens: WHOLE_HISTORY } : undefined),
    records: (reply) => {
      // No summary yet (bare null, or the as-deployed error about it): no decisions.
      if (!isObject(reply) || reply.status === 'error') return [];
      return Array.isArray(reply.key_decisions) ? reply.key_decisions.map((d) => spell(isObject(d) ? d.decision : d)) : [];
    },
  },
};

export const legacyLookupOf = (service: ServiceName): LegacyLookup => LOOKUPS[service];

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
