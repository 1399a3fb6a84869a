/** ContextualMemoryAgent (PROTOCOLS.md 1.2): its protocol, its record in both stores, and its translator. */
import type { LegacyService } from '../service.js';
import { isObject, pyTypeName } from '../legacy-values.js';
import { spell, WHOLE_HISTORY } from '../legacy-lookup.js';
import { wholeSeconds, wholeSecondsSql } from '../records.js';
import { CONTEXTUAL_MEMORY_FILE, openContextualStore } from './legacy-store.js';
import { ContextualMemoryTranslator } from './translator.js';
import { MAX_SESSION_HISTORY } from './snapshot.js';

const SESSION_KEY = `(s.metadata->>'legacy_session_id')`;
const CONTEXT_TYPE = `(m.content->'metadata'->>'type')`;
const CONTEXT_TIME = `m.content->'metadata'->'timestamp'`;
/**
 * The session's stored snapshot (the translator's agent_state memory) without its decisions. The session's memories are
 * found by its id alone (OFFSET 0 keeps the other conditions out of that scan): a planner without statistics would
 * otherwise AND them with an index of every agent_state memory, or walk the created_at index, once per session.
 */
const SNAPSHOT = `(SELECT (sm.content->'metadata'->'snapshot') - 'key_decisions'
  FROM (SELECT * FROM memory_entries sm WHERE sm.session_id = s.session_id OFFSET 0) sm
  WHERE sm.memory_type = 'agent_state' AND sm.is_active ORDER BY sm.created_at DESC, sm.memory_id DESC LIMIT 1)`;

export const contextualMemory: LegacyService = {
  name: 'contextual-memory',
  legacyName: 'contextual_memory_pc2',
  legacyPort: 5596,
  stickyOn: 'sessionId',
  memoryType: 'context',
  actions: {
    add_interaction: { kind: 'write', key: 'session_id', addsElement: true },
    get_context: { kind: 'read', key: 'session_id', mutates: true },
    record_decision: { kind: 'write', key: 'session_id', addsElement: true },
    health_check: { kind: 'health' },
  },
  // As deployed, its loop answers every bare true/false with an AttributeError after the write was made
  // (PROTOCOLS.md 1.2): the write happened unless the message says otherwise.
  writeSuccess: [
    { path: '', equals: true },
    { path: 'message', matches: "object has no attribute 'get'" },
  ],
  errorReply: (message) => ({ status: 'error', message }),
  // The loop calls reply.get("status") before sending: a bare value raises there and the exception is sent instead.
  deployedReply: (reply) => (isObject(reply) ? reply : { status: 'error', message: `'${pyTypeName(reply)}' object has no attribute 'get'` }),
  record: {
    // The agent's stored summary snapshot without its decisions (they are the second list); null before it has one.
    header: ['snapshot'],
    headerTimes: ['snapshot.last_updated'],
    // Recomputed by every add past 50 interactions (PROTOCOLS.md 1.2).
    headerFollowsLists: true,
    digestHeader: ([snapshot]) => [
      isObject(snapshot) && 'last_updated' in snapshot ? { ...snapshot, last_updated: wholeSeconds(snapshot.last_updated) } : snapshot,
    ],
    lists: [
      // The agent keeps the 50 newest interactions (max_session_history); the orchestrator keeps them all.
      { name: 'interactions', fields: ['type', 'content', 'metadata'], timed: true, retain: MAX_SESSION_HISTORY },
      { name: 'decisions', fields: ['decision'], timed: true },
    ],
    emptyIsAbsent: true,
  },
  legacyStore: { file: CONTEXTUAL_MEMORY_FILE, open: openContextualStore },
  orchestratorView: {
    key: SESSION_KEY,
    sessions: `s.metadata ? 'legacy_session_id' AND NOT s.metadata ? 'metadata'`,
    header: `jsonb_build_array(${SESSION_KEY}, ${SNAPSHOT})`,
    digestHeader: `jsonb_build_array(${SESSION_KEY}, CASE WHEN ${SNAPSHOT} ? 'last_updated'
      THEN jsonb_set(${SNAPSHOT}, '{last_updated}', ${wholeSecondsSql(`${SNAPSHOT}->'last_updated'`)}) ELSE ${SNAPSHOT} END)`,
    lists: [
      {
        where: `m.memory_type = 'context' AND ${CONTEXT_TYPE} IS DISTINCT FROM 'decision'`,
        element: `jsonb_build_array(m.content->'metadata'->'type', m.content->'text', coalesce(m.content->'metadata', '{}') - 'type' - 'timestamp')`,
        time: CONTEXT_TIME,
      },
      { where: `m.memory_type = 'context' AND ${CONTEXT_TYPE} = 'decision'`, element: `jsonb_build_array(m.content->'text')`, time: CONTEXT_TIME },
    ],
  },
  // The protocol cannot clear a session: a repair clears it on the orchestrator directly (SideWriter.clearKey).
  repair: {
    append: (key, list, element) =>
      list === 0
        ? { action: 'add_interaction', session_id: key, type: element[0], content: element[1], metadata: element[2] }
        : { action: 'record_decision', session_id: key, decision: element[0] },
  },
  lookup: {
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
  translator: (client, ids, deps) => new ContextualMemoryTranslator(contextualMemory, client, ids, deps?.locks),
};
