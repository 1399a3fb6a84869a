/** The orchestrator simulator answers as PROTOCOLS.md section 2 says: envelope, memories, sessions, errors. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { envelope, send, sendRaw, startTestSims } from './helpers.js';

let sim: SimHandle;
beforeAll(async () => {
  sim = await startTestSims();
});
afterAll(async () => {
  await sim?.close();
});

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const call = (action: string, sessionId: string | undefined, payload?: unknown) => send(sim.endpoints.orchestrator, envelope(action, sessionId, payload));
const data = async (action: string, sessionId: string | undefined, payload?: unknown) => {
  const reply = await call(action, sessionId, payload);
  expect(reply, JSON.stringify(reply)).toMatchObject({ status: 'success', action });
  return reply.data;
};
const newSession = async () => (await data('create_session', undefined, { user_id: 'u' })).session_id as string;
const create = async (sid: string, text: string, extra: Record<string, unknown> = {}) =>
  (await data('create', sid, { memory_type: 'conversation', content: { text, source_agent: 't' }, ...extra })).memory_id as string;

describe('orchestrator envelope', () => {
  it('answers health probes without an envelope', async () => {
    for (const action of ['ping', 'health', 'health_check']) expect(await sendRaw(sim.endpoints.orchestrator, { action })).toBe('{"status": "ok"}');
  });

  it('rejects incomplete envelopes with invalid_request', async () => {
    const bad = async (req: unknown) => {
      const r = await send(sim.endpoints.orchestrator, req);
      expect(r.status).toBe('error');
      expect(Object.keys(r)).toEqual(['status', 'request_id', 'error', 'timestamp']);
      expect(r.error.details).toEqual({});
      return r.error.code;
    };
    expect(await bad({ session_id: 's', payload: {}, request_id: 'req-1' })).toBe('invalid_request');
    expect(await bad({ action: 'read', session_id: 's', payload: {} })).toBe('invalid_request');
    expect(await bad({ action: 'read', payload: {}, request_id: 'req-1' })).toBe('invalid_request');
    expect(await bad({ action: 'read', session_id: 's', request_id: 'req-1' })).toBe('invalid_request');
    expect(await bad({ action: 'teleport', session_id: 's', payload: {}, request_id: 'req-1' })).toBe('invalid_request');
    expect(await bad([1])).toBe('invalid_request');
    expect(await bad('{oops')).toBe('invalid_request');
    expect(await bad(envelope('read', 'session-00000000', { memory_id: 'mem-00000000' }))).toBe('session_not_found');
  });

  it('wraps successes in the envelope, echoing request_id', async () => {
    const req = envelope('create_session', undefined, { user_id: 'u1', session_metadata: { a: 1 } });
    const r = await send(sim.endpoints.orchestrator, req);
    expect(Object.keys(r)).toEqual(['status', 'action', 'request_id', 'data', 'timestamp']);
    expect(r.request_id).toBe(req.request_id);
    expect(r.timestamp).toMatch(ISO);
    expect(r.data.session_id).toMatch(/^session-[0-9a-f]{8}$/);
    expect(r.data.created_at).toMatch(ISO);
  });
});

describe('orchestrator memories', () => {
  it('creates, reads, updates and soft-deletes a memory in its session', async () => {
    const sid = await newSession();
    const other = await newSession();
    const created = await data('create', sid, {
      memory_type: 'context',
      content: { text: 'hello', source_agent: 'a', metadata: { type: 'code' } },
      tags: ['code'],
      priority: 7,
      ttl: 3600,
    });
    expect(created.memory_id).toMatch(/^mem-[0-9a-f]{8}$/);
    const read = await data('read', sid, { memory_id: created.memory_id });
    expect(Object.keys(read)).toEqual(['memory_id', 'session_id', 'memory_type', 'content', 'tags', 'created_at', 'updated_at', 'expires_at', 'priority']);
    expect(read).toMatchObject({ session_id: sid, memory_type: 'context', tags: ['code'], priority: 7, created_at: created.created_at });
    expect(Date.parse(read.expires_at) - Date.parse(read.created_at)).toBe(3600_000);
    expect((await call('read', other, { memory_id: created.memory_id })).error.code).toBe('memory_not_found');

    const upd = await data('update', sid, { memory_id: created.memory_id, content: { text: 'changed' }, priority: 2, ttl: null });
    expect(Object.keys(upd)).toEqual(['memory_id', 'updated_at', 'expires_at']);
    expect(upd.expires_at).toBeNull();
    expect(await data('read', sid, { memory_id: created.memory_id })).toMatchObject({ content: { text: 'changed' }, priority: 2 });

    expect(await data('delete', sid, { memory_id: created.memory_id })).toEqual({ deleted: true });
    expect((await call('read', sid, { memory_id: created.memory_id })).error.code).toBe('memory_not_found');
    expect((await call('delete', sid, { memory_id: created.memory_id })).error.code).toBe('memory_not_found');
    expect(sim.models.orchestrator.memories.get(created.memory_id)?.is_active).toBe(false);
  });

  it('validates payloads', async () => {
    const sid = await newSession();
    const code = async (action: string, payload: unknown) => (await call(action, sid, payload)).error?.code;
    expect(await code('create', { memory_type: 'dream', content: { text: 'x' } })).toBe('validation_error');
    expect(await code('create', { memory_type: 'entity', content: 'text' })).toBe('validation_error');
    expect(await code('create', { memory_type: 'entity', content: {}, priority: 11 })).toBe('validation_error');
    expect(await code('read', {})).toBe('validation_error');
    expect(await code('read', { memory_id: 'mem-ffffffff' })).toBe('memory_not_found');
    expect(await code('batch_read', {})).toBe('validation_error');
    expect(await code('batch_read', { filter: { sort: { field: 'content' } } })).toBe('validation_error');
    expect(await code('bulk_delete', {})).toBe('validation_error');
    expect(await code('search', { query: '' })).toBe('validation_error');
  });

  it('hides expired memories', async () => {
    const sid = await newSession();
    const id = await create(sid, 'brief', { ttl: 0.05 });
    expect((await data('read', sid, { memory_id: id })).memory_id).toBe(id);
    await new Promise((r) => setTimeout(r, 80));
    expect((await call('read', sid, { memory_id: id })).error.code).toBe('memory_not_found');
  });
});

describe('orchestrator batch_read', () => {
  let sid: string;
  const ids: string[] = [];
  beforeAll(async () => {
    sid = await newSession();
    // Several land in the same millisecond: the order must still be insertion order.
    for (let i = 0; i < 6; i++) {
      ids.push(await create(sid, `note ${i}`, { tags: i % 2 ? ['odd'] : ['even'], priority: 10 - i, memory_type: i < 4 ? 'conversation' : 'context' }));
    }
    const other = await newSession();
    await create(other, 'elsewhere');
  });

  it('reads by ids within the envelope session', async () => {
    const r = await data('batch_read', sid, { memory_ids: [ids[3], ids[1], 'mem-00000000'] });
    // Oldest first; two memories written within one millisecond tie, and a tie comes in no set order.
    expect(r.memories.map((m: any) => m.memory_id).sort()).toEqual([ids[1], ids[3]].sort());
    expect(Date.parse(r.memories[0].created_at)).toBeLessThanOrEqual(Date.parse(r.memories[1].created_at));
    expect(r.total_count).toBe(2);
  });

  it('filters by type and tags, pages and sorts stably (ties on the sort key in no insertion order)', async () => {
    const times = (ms: any[]) => ms.map((m: any) => Date.parse(m.created_at));
    const asc = await data('batch_read', sid, { filter: {} });
    expect([...asc.memories.map((m: any) => m.memory_id)].sort()).toEqual([...ids].sort());
    expect(times(asc.memories)).toEqual([...times(asc.memories)].sort((a, b) => a - b));
    expect(asc.page_info).toEqual({ limit: 100, offset: 0, has_more: false });
    const desc = await data('batch_read', sid, { filter: { sort: { field: 'created_at', order: 'desc' } } });
    expect(times(desc.memories)).toEqual([...times(asc.memories)].reverse());
    // Pages of one order never repeat or skip a memory.
    const paged = [0, 2, 4].map(async (offset) => (await data('batch_read', sid, { filter: { limit: 2, offset } })).memories.map((m: any) => m.memory_id));
    expect((await Promise.all(paged)).flat()).toEqual(asc.memories.map((m: any) => m.memory_id));
    const newest = [0, 3].map(async (offset) =>
      (await data('batch_read', sid, { filter: { sort: { order: 'desc' }, limit: 3, offset } })).memories.map((m: any) => m.memory_id),
    );
    expect((await Promise.all(newest)).flat()).toEqual(desc.memories.map((m: any) => m.memory_id));
    const byPriority = await data('batch_read', sid, { filter: { sort: { field: 'priority', order: 'asc' } } });
    expect(byPriority.memories.map((m: any) => m.priority)).toEqual([5, 6, 7, 8, 9, 10]);
    const page = await data('batch_read', sid, { filter: { memory_type: 'conversation', limit: 2, offset: 1 } });
    const conversation = asc.memories.filter((m: any) => m.memory_type === 'conversation').map((m: any) => m.content.text);
    expect(page.memories.map((m: any) => m.content.text)).toEqual(conversation.slice(1, 3));
    expect(page.total_count).toBe(4);
    expect(page.page_info).toEqual({ limit: 2, offset: 1, has_more: true });
    const odd = await data('batch_read', sid, { filter: { tags: ['odd'] } });
    expect(odd.memories.map((m: any) => m.content.text).sort()).toEqual(['note 1', 'note 3', 'note 5']);
    const future = await data('batch_read', sid, { filter: { time_range: { start: new Date(Date.now() + 60_000).toISOString() } } });
    expect(future.total_count).toBe(0);
  });

  it('pages and counts one type without the memories a delete, a bulk delete or an expiry took away (each on its own)', async () => {
    const changes: Record<string, (s: string, id: string) => Promise<unknown>> = {
      expiry: (s, id) => data('update', s, { memory_id: id, ttl: 0.05 }),
      delete: (s, id) => data('delete', s, { memory_id: id }),
      'bulk delete': async (s, id) => {
        await data('update', s, { memory_id: id, tags: ['doomed'] });
        return data('bulk_delete', s, { filter: { tags: ['doomed'] } });
      },
    };
    for (const [change, apply] of Object.entries(changes)) {
      const s = await newSession();
      const read = async (filter: Record<string, unknown>) => {
        const r = await data('batch_read', s, { filter: { memory_type: 'conversation', sort: { order: 'desc' }, ...filter } });
        return { ids: r.memories.map((m: any) => m.memory_id), total: r.total_count, more: r.page_info.has_more };
      };
      for (const t of ['a', 'b', 'c', 'd', 'e']) await create(s, t);
      await data('create', s, { memory_type: 'context', content: { text: 'other type' } });
      // Memories written in one millisecond tie on created_at: the whole read says the order pages must keep.
      const all = (await read({})).ids;
      expect(all, change).toHaveLength(5);
      expect(await read({ limit: 2, offset: 1 }), change).toEqual({ ids: all.slice(1, 3), total: 5, more: true });
      expect(await read({ limit: 2, offset: 4 }), change).toEqual({ ids: all.slice(4), total: 5, more: false });
      await apply(s, all[1]);
      await new Promise((r) => setTimeout(r, 80));
      expect(await read({ limit: 2 }), change).toEqual({ ids: [all[0], all[2]], total: 4, more: true });
      expect((await data('batch_read', s, { filter: {} })).total_count, change).toBe(5);
    }
  });

  it('searches by keyword, token overlap and both', async () => {
    const s = await newSession();
    await create(s, 'The quick brown fox jumps');
    await create(s, 'A lazy dog sleeps all day');
    await create(s, 'quick thinking saves the day', { memory_type: 'context' });
    const kw = await data('search', s, { query: 'QUICK', search_type: 'keyword' });
    expect(kw.results.map((r: any) => r.content.text)).toEqual(['The quick brown fox jumps', 'quick thinking saves the day']);
    expect(kw.results[0].similarity_score).toBe(1);
    expect(kw.search_metadata).toMatchObject({ search_type: 'keyword', min_similarity: 0.7, limit: 5 });
    const sem = await data('search', s, { query: 'lazy dog day', search_type: 'semantic', filters: { min_similarity: 0.3 } });
    expect(sem.results[0].content.text).toBe('A lazy dog sleeps all day');
    expect(sem.results.every((r: any, i: number, a: any[]) => i === 0 || a[i - 1].similarity_score >= r.similarity_score)).toBe(true);
    const strict = await data('search', s, { query: 'lazy dog day', filters: { min_similarity: 0.99 } });
    expect(strict.total_count).toBe(0);
    const typed = await data('search', s, { query: 'quick', search_type: 'hybrid', filters: { memory_types: ['context'], min_similarity: 0.1, limit: 1 } });
    expect(typed.results.map((r: any) => r.content.text)).toEqual(['quick thinking saves the day']);
  });
});

describe('orchestrator sessions, bulk delete and summaries', () => {
  it('ends a session', async () => {
    const sid = await newSession();
    const ended = await data('end_session', sid, { summary: 'done', archive: true });
    expect(ended).toMatchObject({ session_id: sid, is_archived: true });
    expect(ended.ended_at).toMatch(ISO);
    const noPayload = await send(sim.endpoints.orchestrator, envelope('end_session', sid));
    expect(noPayload.data.is_archived).toBe(false);
  });

  it('bulk-deletes matching memories of the envelope session only', async () => {
    const sid = await newSession();
    const other = await newSession();
    await create(sid, 'a', { tags: ['x'] });
    await create(sid, 'b', { tags: ['y'] });
    const keep = await create(other, 'c', { tags: ['x'] });
    const r = await data('bulk_delete', sid, { filter: { tags: ['x'] } });
    expect(r).toEqual({ deleted_count: 1, filter_applied: { tags: ['x'] } });
    expect((await data('batch_read', sid, { filter: {} })).memories.map((m: any) => m.content.text)).toEqual(['b']);
    expect((await data('read', other, { memory_id: keep })).memory_id).toBe(keep);
    expect((await data('bulk_delete', sid, { filter: { older_than: new Date(Date.now() + 1000).toISOString() } })).deleted_count).toBe(1);
  });

  it('summarises a session', async () => {
    const sid = await newSession();
    await create(sid, 'first thing');
    await create(sid, 'second thing', { memory_type: 'context' });
    const s = await data('summarize', sid, { memory_type: 'conversation' });
    expect(s.memory_count).toBe(1);
    expect(s.summary).toContain('first thing');
    expect(s.summary).not.toContain('second thing');
    expect(s.time_range.start).toMatch(ISO);
  });
});
