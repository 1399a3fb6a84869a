/** JarvisMemoryAgent (PROTOCOLS.md 1.3): its protocol, its record in both stores, and its translator. */
import type { LegacyService } from '../service.js';
import { isObject } from '../legacy-values.js';
import { spell } from '../legacy-lookup.js';
import { JARVIS_MEMORY_FILE, openJarvisStore } from './legacy-store.js';
import { JarvisMemoryTranslator } from './translator.js';

export const jarvisMemory: LegacyService = {
  name: 'jarvis-memory',
  legacyName: 'jarvis_memory_pc2',
  legacyPort: 5598,
  stickyOn: 'userId',
  memoryType: 'entity',
  actions: {
    add_memory: { kind: 'write', key: 'user_id', keyDefault: 'default', addsElement: true },
    get_memories: { kind: 'read', key: 'user_id', keyDefault: 'default' },
    clear_memories: { kind: 'write', key: 'user_id', keyDefault: 'default' },
  },
  writeSuccess: [{ path: 'status', equals: 'ok' }],
  errorReply: (message) => ({ status: 'error', reason: message }),
  record: { header: [], lists: [{ name: 'memories', fields: ['memory'], timed: true }], emptyIsAbsent: true },
  legacyStore: { file: JARVIS_MEMORY_FILE, open: openJarvisStore },
  orchestratorView: {
    key: `(s.metadata->>'legacy_user_id')`,
    sessions: `s.metadata ? 'legacy_user_id'`,
    header: `jsonb_build_array(s.metadata->>'legacy_user_id')`,
    lists: [{ where: `m.memory_type = 'entity'`, element: `jsonb_build_array(m.content->'metadata'->'memory')`, time: `m.content->'timestamp'` }],
  },
  repair: {
    append: (key, _list, [memory]) => ({ action: 'add_memory', user_id: key, memory }),
    clear: (key) => ({ action: 'clear_memories', user_id: key }),
    remove: (key) => ({ action: 'clear_memories', user_id: key }),
  },
  lookup: {
    effect: (r) => (r.action === 'add_memory' ? { adds: spell(r.memory) } : r.action === 'clear_memories' ? { clears: true } : { neutral: true }),
    read: (r) => ({ action: 'get_memories', ...(r.user_id === undefined ? {} : { user_id: r.user_id }) }),
    records: (reply) => (isObject(reply) && Array.isArray(reply.memories) ? reply.memories.map((m) => spell(isObject(m) ? m.memory : m)) : undefined),
    stamps: (reply) => (isObject(reply) && Array.isArray(reply.memories) ? reply.memories.map((m) => (isObject(m) ? m.timestamp : undefined)) : undefined),
  },
  translator: (client, ids) => new JarvisMemoryTranslator(jarvisMemory, client, ids),
};
