/**
 * A fourth legacy service, small and made up, written as a service module: NotesAgent keeps notes per user
 * (add_note, get_notes, clear_notes) and answers {"ok": ...}. Only this module and registerService() know it.
 */
import { createdAtSeconds, readAllMemories, taggedFor } from '../../src/services/orchestrator-client.js';
import { openJsonStore } from '../../src/services/json-store.js';
import type { LegacyService } from '../../src/services/service.js';
import { ServiceTranslator } from '../../src/services/translator.js';
import type { LegacyRequest, TranslateContext } from '../../src/services/types.js';

const userOf = (r: LegacyRequest): string => (typeof r.user_id === 'string' ? r.user_id : 'anyone');

class NotesTranslator extends ServiceTranslator {
  async handle(request: LegacyRequest, ctx: TranslateContext): Promise<unknown> {
    const user = userOf(request);
    if (request.action === 'add_note') {
      if (typeof request.text !== 'string') return this.spec.errorReply('text must be a string');
      const sessionId = await this.sessions.ensure(user, { user_id: user, session_metadata: { legacy_notes_user: user } });
      await this.client.call('create', sessionId, { ...this.own, content: { text: request.text }, tags: taggedFor(['note'], ctx.writeId) });
      return { ok: true };
    }
    if (request.action === 'get_notes') {
      const sessionId = await this.sessions.find(user);
      const memories = sessionId ? await readAllMemories(this.client, sessionId, this.own) : [];
      return { ok: true, notes: memories.map((m) => ({ text: m.content.text, at: createdAtSeconds(m) })) };
    }
    if (request.action === 'clear_notes') {
      const sessionId = await this.sessions.find(user);
      if (sessionId) await this.client.call('bulk_delete', sessionId, { filter: this.own });
      return { ok: true };
    }
    return this.unknownAction(request.action);
  }

  protected createsIn(request: LegacyRequest): string | undefined {
    return request.action === 'add_note' ? userOf(request) : undefined;
  }
}

export const notesMemory: LegacyService = {
  name: 'notes-memory',
  legacyName: 'NotesAgent',
  legacyPort: 5601,
  stickyOn: 'userId',
  memoryType: 'user_preference',
  actions: {
    add_note: { kind: 'write', key: 'user_id', keyDefault: 'anyone' },
    get_notes: { kind: 'read', key: 'user_id', keyDefault: 'anyone', compare: { ignore: ['notes[].at'] } },
    clear_notes: { kind: 'write', key: 'user_id', keyDefault: 'anyone' },
  },
  writeSuccess: [{ path: 'ok', equals: true }],
  errorReply: (message) => ({ ok: false, error: message }),
  record: { header: [], lists: [{ name: 'notes', fields: ['text'] }], emptyIsAbsent: true },
  legacyStore: {
    file: 'notes.json',
    open: (path) => openJsonStore(path, [[]], (key, [notes]) => ({ key, header: [], lists: [((notes ?? []) as { text: string }[]).map((n) => [n.text])] })),
  },
  orchestratorView: {
    key: `(s.metadata->>'legacy_notes_user')`,
    sessions: `s.metadata ? 'legacy_notes_user'`,
    header: `jsonb_build_array(s.metadata->>'legacy_notes_user')`,
    lists: [{ where: `m.memory_type = 'user_preference'`, element: `jsonb_build_array(m.content->'text')` }],
  },
  repair: {
    append: (key, _list, [text]) => ({ action: 'add_note', user_id: key, text }),
    clear: (key) => ({ action: 'clear_notes', user_id: key }),
  },
  lookup: {
    effect: (r) => (r.action === 'add_note' ? { adds: JSON.stringify(r.text) } : r.action === 'clear_notes' ? { clears: true } : { neutral: true }),
    read: (r) => ({ action: 'get_notes', user_id: userOf(r) }),
    records: (reply) => ((reply as { notes?: { text: string }[] }).notes ?? []).map((n) => JSON.stringify(n.text)),
  },
  translator: (client, ids) => new NotesTranslator(notesMemory, client, ids),
};
