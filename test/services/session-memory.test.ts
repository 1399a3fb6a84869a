/** The session-memory translator against the simulators: its replies next to the agent's own. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LegError } from '../../src/legs/types.js';
import { OrchestratorError } from '../../src/services/types.js';
import { LegOrchestratorClient } from '../../src/services/orchestrator-client.js';
import { serviceOf } from '../../src/services/registry.js';
import { startWorld, storedMemories, type World } from './harness.js';

const S = 'session-memory' as const;
let world: World;

beforeAll(async () => {
  world = await startWorld();
});
afterAll(async () => {
  await world?.close();
});

const say = (session_id: string, role: string, content: string, extra: Record<string, unknown> = {}) =>
  world.both(S, { action: 'add_interaction', session_id, role, content, request_id: `r-${content.slice(0, 8)}`, ...extra });

describe('session-memory translator', () => {
  it('rebuilds get_context exactly and maps interactions to conversation memories', async () => {
    const created = await world.both(S, { action: 'create_session', session_id: 'sess-a', user_id: 'u1', metadata: { lang: 'en' }, request_id: 'r1' });
    expect(created.translated).toEqual({ status: 'success', session_id: 'sess-a', request_id: 'r1' });
    await say('sess-a', 'user', 'What is the weather like today?', { metadata: { tags: ['weather', 'q'] } });
    await say('sess-a', 'assistant', 'Sunny, 24 degrees.');
    await say('sess-a', 'user', 'Ünïcödé content — counts code points 😀');
    const { translated } = await world.both(S, { action: 'get_context', session_id: 'sess-a', request_id: 'r2' });
    expect((translated as { context: unknown[] }).context).toHaveLength(3);

    const orchestratorId = world.ids.orchestratorId(S, 'sess-a');
    const session = world.sims.models.orchestrator.sessions.get(orchestratorId!);
    expect(session?.metadata).toEqual({ legacy_session_id: 'sess-a', metadata: { lang: 'en' } });
    expect(session?.user_id).toBe('u1');
    const [first] = storedMemories(world, orchestratorId);
    expect(first?.memory_type).toBe('conversation');
    expect(first?.tags).toEqual(['conversation', 'user', 'weather', 'q']);
    expect(first?.content).toMatchObject({
      text: 'What is the weather like today?',
      role: 'user',
      source_agent: 'session_memory_agent',
      metadata: { tags: ['weather', 'q'] },
    });
    expect(first?.content.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$/);
  });

  it('cuts the history at the same place under a token budget, across orchestrator pages', async () => {
    await world.both(S, { action: 'create_session', session_id: 'sess-long' });
    // 130 interactions: more than one batch_read page; sizes vary so the cut is not at a round number.
    for (let i = 0; i < 130; i++) await say('sess-long', i % 2 ? 'assistant' : 'user', `${i}:`.padEnd(40 + ((i * 37) % 300), 'x'));
    const small = await world.both(S, { action: 'get_context', session_id: 'sess-long', max_tokens: 350, request_id: 'r' });
    const kept = (small.translated as { context: { content: string }[] }).context;
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.length).toBeLessThan(10);
    expect(kept.at(-1)!.content.startsWith('129:')).toBe(true);
    const byDefault = await world.both(S, { action: 'get_context', session_id: 'sess-long' });
    const all = (byDefault.translated as { context: unknown[] }).context;
    expect(all.length).toBeGreaterThan(kept.length);
    expect(all.length).toBeLessThan(130);
    const huge = await world.both(S, { action: 'get_context', session_id: 'sess-long', max_tokens: 1_000_000 });
    expect((huge.translated as { context: unknown[] }).context).toHaveLength(130);
  });

  it("reads a long session's newest page for a context, every page only when the budget takes them all", async () => {
    await world.both(S, { action: 'create_session', session_id: 'sess-deep' });
    for (let i = 0; i < 450; i++) await say('sess-deep', i % 2 ? 'assistant' : 'user', `${i}:`.padEnd(40 + ((i * 37) % 300), 'y'));
    const reads: unknown[] = [];
    const client = new LegOrchestratorClient(world.orchestratorLeg);
    const counted = serviceOf(S).translator({ call: (action, sid, payload) => (reads.push(payload), client.call(action, sid, payload)) }, world.ids);
    // Each side stamps its own times: the turns are what must agree.
    const turns = (reply: unknown) => (reply as { context: { role: string; content: string }[] }).context.map((c) => `${c.role} ${c.content}`);
    for (const max_tokens of [undefined, 1_000_000]) {
      reads.length = 0;
      const request = { action: 'get_context', session_id: 'sess-deep', ...(max_tokens ? { max_tokens } : {}) };
      const legacy = turns(await world.legacy(S, request));
      expect(turns(await counted.handle(request, { createMissing: false }))).toEqual(legacy);
      // The default budget holds about 40 of them: one page of 100 (two if a tie straddles its edge), not five.
      if (max_tokens) expect([legacy.length, reads.length]).toEqual([450, 5]);
      else expect(reads.length).toBeLessThanOrEqual(2);
    }
    // A small budget starts with a small page (8 tokens an interaction), the next sized by what the first cost:
    // interactions that cost nothing (under 4 characters) leave the whole budget, so all the rest come in one.
    await world.both(S, { action: 'create_session', session_id: 'sess-cheap' });
    for (let i = 0; i < 60; i++) await say('sess-cheap', 'user', `${i}`);
    for (const [session_id, max_tokens, limits] of [
      ['sess-deep', 40, [10]],
      ['sess-cheap', 80, [11, 81]],
    ] as const) {
      reads.length = 0;
      const request = { action: 'get_context', session_id, max_tokens };
      const legacy = turns(await world.legacy(S, request));
      expect(turns(await counted.handle(request, { createMissing: false }))).toEqual(legacy);
      expect(reads.map((p) => (p as { filter: { limit: number } }).filter.limit)).toEqual(limits);
    }
  });

  it('clear_session empties but keeps the session; delete_session removes it and its id mapping', async () => {
    await world.both(S, { action: 'create_session', session_id: 'sess-c' });
    await say('sess-c', 'user', 'to be cleared');
    await world.both(S, { action: 'clear_session', session_id: 'sess-c', request_id: 'rc' });
    const cleared = await world.both(S, { action: 'get_context', session_id: 'sess-c' });
    expect((cleared.translated as { context: unknown[] }).context).toEqual([]);
    await say('sess-c', 'user', 'after clear');
    const after = await world.both(S, { action: 'get_context', session_id: 'sess-c' });
    expect((after.translated as { context: unknown[] }).context).toHaveLength(1);

    const orchestratorId = world.ids.orchestratorId(S, 'sess-c');
    await world.both(S, { action: 'delete_session', session_id: 'sess-c', request_id: 'rd' });
    expect(world.ids.orchestratorId(S, 'sess-c')).toBeUndefined();
    expect(storedMemories(world, orchestratorId)).toEqual([]);
    expect(world.sims.models.orchestrator.sessions.get(orchestratorId!)?.ended_at).not.toBeNull();
    const gone = await world.both(S, { action: 'get_context', session_id: 'sess-c' });
    expect((gone.translated as { context: unknown[] }).context).toEqual([]);
    const rejected = await say('sess-c', 'user', 'to a deleted session');
    expect(rejected.translated).toEqual({ status: 'error', request_id: 'r-to a del' });
    // Clearing / deleting a session neither side knows succeeds on both.
    await world.both(S, { action: 'clear_session', session_id: 'never-seen' });
    await world.both(S, { action: 'delete_session', session_id: 'never-seen' });
  });

  it('a delete_session sent again after its first attempt landed succeeds and drops the mapping', async () => {
    // The first attempt ended the session and its reply was lost: the mapping is still there (put back here).
    await world.both(S, { action: 'create_session', session_id: 'sess-d' });
    await say('sess-d', 'user', 'deleted twice');
    const orchestratorId = world.ids.orchestratorId(S, 'sess-d')!;
    await world.translate(S, { action: 'delete_session', session_id: 'sess-d' });
    await world.ids.set(S, 'sess-d', orchestratorId);
    expect(await world.translate(S, { action: 'delete_session', session_id: 'sess-d', request_id: 'again' })).toEqual({
      status: 'success',
      request_id: 'again',
    });
    expect(world.ids.orchestratorId(S, 'sess-d')).toBeUndefined();
    // Gone, as an orchestrator that drops ended sessions would answer: session_not_found means deleted.
    await world.ids.set(S, 'sess-gone', 'session-0000dead');
    expect(await world.translate(S, { action: 'delete_session', session_id: 'sess-gone', request_id: 'g' })).toEqual({ status: 'success', request_id: 'g' });
    expect(world.ids.orchestratorId(S, 'sess-gone')).toBeUndefined();
  });

  it('re-creating a session keeps its history and its orchestrator session', async () => {
    await world.both(S, { action: 'create_session', session_id: 'sess-r' });
    await say('sess-r', 'user', 'kept across re-create');
    const before = world.ids.orchestratorId(S, 'sess-r');
    await world.both(S, { action: 'create_session', session_id: 'sess-r', metadata: { again: true } });
    expect(world.ids.orchestratorId(S, 'sess-r')).toBe(before);
    const ctx = await world.both(S, { action: 'get_context', session_id: 'sess-r' });
    expect((ctx.translated as { context: unknown[] }).context).toHaveLength(1);
  });

  it('an unknown session: the legacy error when new is primary, created on the fly when legacy accepted the write', async () => {
    const refused = await world.both(S, { action: 'add_interaction', session_id: 'ghost', role: 'user', content: 'hi', request_id: 'g1' });
    expect(refused.translated).toEqual({ status: 'error', request_id: 'g1' });
    expect(world.ids.orchestratorId(S, 'ghost')).toBeUndefined();

    // Legacy knows the session (created there only); the new side first hears of it on a write.
    await world.legacy(S, { action: 'create_session', session_id: 'legacy-only' });
    const accepted = await world.both(
      S,
      { action: 'add_interaction', session_id: 'legacy-only', role: 'user', content: 'first write', request_id: 'g2' },
      { ctx: { createMissing: true } },
    );
    expect(accepted.translated).toEqual({ status: 'success', request_id: 'g2' });
    expect(world.ids.orchestratorId(S, 'legacy-only')).toMatch(/^session-[0-9a-f]{8}$/);
    await world.both(S, { action: 'get_context', session_id: 'legacy-only' });
  });

  it('answers missing parameters, health and unknown actions like the agent', async () => {
    await world.both(S, { action: 'add_interaction', session_id: 'sess-a', content: 'no role', request_id: 'm1' });
    await world.both(S, { action: 'add_interaction', session_id: 'sess-a', role: 'user', content: '' });
    await world.both(S, { action: 'add_interaction', role: 'user', content: 'no session' });
    for (const action of ['get_context', 'clear_session', 'delete_session']) {
      const { translated } = await world.both(S, { action, request_id: 'm2' });
      expect(translated).toEqual({ status: 'error', message: 'Missing session_id', request_id: 'm2' });
    }
    await world.both(S, { action: 'health_check' });
    const unknown = await world.both(S, { action: 'search_interactions', request_id: 'u' });
    expect(unknown.translated).toEqual({ status: 'error', message: 'Unknown action: search_interactions', request_id: 'u' });
    // Without a session_id both invent a uuid4: same shape, different value.
    const a = (await world.legacy(S, { action: 'create_session' })) as { session_id: string };
    const b = (await world.translate(S, { action: 'create_session' })) as { session_id: string };
    const uuid4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    expect(Object.keys(b)).toEqual(Object.keys(a));
    expect(b.session_id).toMatch(uuid4);
    expect(world.ids.orchestratorId(S, b.session_id)).toBeDefined();
  });

  it('consults the id map per session: one history never leaks into another', async () => {
    await world.both(S, { action: 'create_session', session_id: 'left' });
    await world.both(S, { action: 'create_session', session_id: 'right' });
    await say('left', 'user', 'left only');
    await say('right', 'user', 'right only');
    await say('right', 'assistant', 'right again');
    world.ids.lookups.length = 0;
    const left = await world.both(S, { action: 'get_context', session_id: 'left' });
    expect(world.ids.lookups).toEqual(['session-memory:left']);
    expect((left.translated as { context: { content: string }[] }).context.map((c) => c.content)).toEqual(['left only']);
    expect(world.ids.orchestratorId(S, 'left')).not.toBe(world.ids.orchestratorId(S, 'right'));
  });

  it('concurrent first writes to one unknown session make one orchestrator session', async () => {
    await Promise.all(
      ['a', 'b', 'c', 'd'].map((c) =>
        world.translate(S, { action: 'add_interaction', session_id: 'raced', role: 'user', content: c }, { createMissing: true }),
      ),
    );
    const mine = [...world.sims.models.orchestrator.sessions.values()].filter((s) => s.metadata.legacy_session_id === 'raced');
    expect(mine).toHaveLength(1);
    expect(storedMemories(world, mine[0]!.session_id)).toHaveLength(4);
  });

  it('surfaces orchestrator errors and leg failures instead of inventing a legacy reply', async () => {
    await world.ids.set(S, 'stale', 'session-00000000');
    await expect(world.translate(S, { action: 'get_context', session_id: 'stale' })).rejects.toMatchObject({
      name: 'OrchestratorError',
      code: 'session_not_found',
    });
    await expect(world.translate(S, { action: 'get_context', session_id: 'stale' })).rejects.toBeInstanceOf(OrchestratorError);
    await world.sims.down('orchestrator');
    try {
      await expect(world.translate(S, { action: 'get_context', session_id: 'sess-a' })).rejects.toBeInstanceOf(LegError);
    } finally {
      await world.sims.up('orchestrator');
    }
  });
});
