/** SessionMemoryAgent (PROTOCOLS.md 1.1): its protocol, its record in both stores, and its translator. */
import type { LegacyService } from '../service.js';
import { isObject } from '../legacy-values.js';
import { spell, WHOLE_HISTORY } from '../legacy-lookup.js';
import { openSessionStore, SESSION_MEMORY_FILE } from './legacy-store.js';
import { SessionMemoryTranslator } from './translator.js';

const SESSION_KEY = `(s.metadata->>'legacy_session_id')`;

export const sessionMemory: LegacyService = {
  name: 'session-memory',
  legacyName: 'SessionMemoryAgent',
  legacyPort: 5574,
  stickyOn: 'sessionId',
  memoryType: 'conversation',
  localTimes: true,
  actions: {
    create_session: { kind: 'write', key: 'session_id' },
    add_interaction: { kind: 'write', key: 'session_id', addsElement: true },
    // The rebuilt reply may carry another request id; timestamps are the legacy times the records carry, within a second.
    get_context: { kind: 'read', key: 'session_id' },
    clear_session: { kind: 'write', key: 'session_id' },
    delete_session: { kind: 'write', key: 'session_id' },
    health_check: { kind: 'health' },
  },
  writeSuccess: [{ path: 'status', equals: 'success' }],
  errorReply: (message, requestId) => ({ status: 'error', message, request_id: requestId ?? null }),
  record: {
    header: ['user_id', 'metadata'],
    lists: [{ name: 'interactions', fields: ['role', 'content', 'metadata'], timed: true }],
    emptyIsAbsent: false,
  },
  legacyStore: { file: SESSION_MEMORY_FILE, open: openSessionStore },
  orchestratorView: {
    key: SESSION_KEY,
    sessions: `s.metadata ? 'legacy_session_id' AND s.metadata ? 'metadata'`,
    header: `jsonb_build_array(${SESSION_KEY}, s.user_id, s.metadata->'metadata')`,
    lists: [
      {
        where: `m.memory_type = 'conversation'`,
        element: `jsonb_build_array(m.content->'role', m.content->'text', m.content->'metadata')`,
        time: `m.content->'timestamp'`,
      },
    ],
  },
  repair: {
    create: (r) => [{ action: 'create_session', session_id: r.key, user_id: r.header[0], metadata: r.header[1] }],
    append: (key, _list, [role, content, metadata]) => ({ action: 'add_interaction', session_id: key, role, content, metadata }),
    clear: (key) => ({ action: 'clear_session', session_id: key }),
    remove: (key) => ({ action: 'delete_session', session_id: key }),
  },
  lookup: {
    effect: (r) =>
      r.action === 'add_interaction'
        ? { adds: spell([r.role, r.content]) }
        : r.action === 'clear_session' || r.action === 'delete_session'
          ? { clears: true }
          : { neutral: true },
    read: (r) => ({ action: 'get_context', session_id: r.session_id, max_tokens: WHOLE_HISTORY }),
    records: (reply) => (isObject(reply) && Array.isArray(reply.context) ? reply.context.map((e) => spell(isObject(e) ? [e.role, e.content] : e)) : undefined),
    stamps: (reply) => (isObject(reply) && Array.isArray(reply.context) ? reply.context.map((e) => (isObject(e) ? e.timestamp : undefined)) : undefined),
  },
  translator: (client, ids, deps) => new SessionMemoryTranslator(sessionMemory, client, ids, deps?.timeZone),
};
