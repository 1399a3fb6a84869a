/** The contextual-memory translator against the simulators: its replies next to the agent's own (PROTOCOLS.md 1.2, revised). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorld, storedMemories, type World } from './harness.js';
import { LegOrchestratorClient } from '../../src/services/orchestrator-client.js';
import { isNotSent, isUnknownOutcome, LegError } from '../../src/legs/types.js';
import { serviceOf } from '../../src/services/registry.js';
import type { OrchestratorClient } from '../../src/services/types.js';
import { PgKeyLocks } from '../../src/store/key-locks.js';
import { freshDatabaseUrl } from '../support/database.js';

const C = 'contextual-memory' as const;
let world: World;

beforeAll(async () => {
  world = await startWorld();
});
afterAll(async () => {
  await world?.close();
});

const add = (session_id: string, type: string, content: string, metadata?: unknown) =>
  world.both(C, { action: 'add_interaction', session_id, type, content, ...(metadata === undefined ? {} : { metadata }) });
const decide = (session_id: string, decision: string) => world.both(C, { action: 'record_decision', session_id, decision });
type Summary = Record<string, unknown> & {
  code_context?: string;
  conversation_summary?: string;
  errors_encountered: string[];
  key_decisions: { decision: string }[];
};

describe('contextual-memory translator', () => {
  it('has no summary for 50 interactions, then the snapshot over the 51 newest: code domains, queries, errors and decisions', async () => {
    const sid = 'alice_memshift';
    const wrote = await add(sid, 'code', 'def load():\n    return db.query("SELECT * FROM users")  # database\n', { file: 'db.py' });
    expect(wrote.translated).toBe(true);
    // Oldest first: they drop out of the agent's 50 as the session grows.
    for (let i = 0; i < 45; i++) await add(sid, 'system_response', `filler ${i}`);
    expect((await world.both(C, { action: 'get_context', session_id: sid })).translated).toBeNull();
    await add(sid, 'code', '@app.route("/api")\ndef web():\n    return http_ok()\n');
    await add(sid, 'code', 'import threading\nt = threading.Thread(target=run)\nt.start()');
    for (let i = 0; i < 5; i++) await add(sid, 'user_query', `Query number ${i}: ${'why is the sky blue? '.repeat(i + 3)}`);
    await add(sid, 'system_response', 'Because of Rayleigh scattering.');
    await add(sid, 'error', `Traceback: ValueError exception ${'x'.repeat(300)}`);
    await add(sid, 'error', 'an ERROR in the pipeline');
    await add(sid, 'error', 'this one is only a warning');
    expect((await decide(sid, 'Use PostgreSQL for the store')).translated).toBe(true);
    await decide(sid, 'Ship on Friday');

    const { translated } = await world.both(C, { action: 'get_context', session_id: sid });
    const summary = translated as Summary;
    expect(Object.keys(summary)).toEqual(['last_updated', 'code_context', 'conversation_summary', 'errors_encountered', 'key_decisions']);
    // The first snippet (database) is the 57th newest: outside the 51 the last recompute saw.
    expect(summary.code_context).toContain('DETECTED DOMAINS: web functionality, concurrency features');
    expect(summary.conversation_summary).toContain('Total queries: 5');
    expect(summary.errors_encountered).toHaveLength(2);
    expect(summary.key_decisions.map((d) => d.decision)).toEqual(['Use PostgreSQL for the store', 'Ship on Friday']);

    const orchestratorId = world.ids.orchestratorId(C, sid);
    // Every interaction and decision as a context memory (all of them: the orchestrator keeps what the agent drops),
    // and the agent's snapshot as one agent_state memory.
    const all = storedMemories(world, orchestratorId);
    expect(all.filter((m) => m.memory_type === 'agent_state')).toHaveLength(1);
    const stored = all.filter((m) => m.memory_type === 'context');
    expect(stored).toHaveLength(57 + 2);
    expect(stored[0]).toMatchObject({ tags: ['code'], content: { metadata: { file: 'db.py', type: 'code' } } });
    expect(stored.at(-1)).toMatchObject({ tags: ['decision'], content: { text: 'Ship on Friday', metadata: { type: 'decision' } } });
  });

  it('cuts code_context and conversation_summary in the stored snapshot: a later, bigger budget does not bring them back', async () => {
    const sid = 'bob_2024-05-01';
    await add(sid, 'code', 'plain code with no hints\n'.repeat(20));
    for (let i = 0; i < 50; i++) await add(sid, 'user_query', `q${i} ${'lorem ipsum '.repeat(20)}`);
    const { translated } = await world.both(C, { action: 'get_context', session_id: sid, max_tokens: 20 });
    const summary = translated as Summary;
    expect(summary.code_context).toMatch(/^.{40}\.\.\.$/s);
    expect(summary.conversation_summary!.endsWith('...')).toBe(true);
    const roomy = await world.both(C, { action: 'get_context', session_id: sid, max_tokens: 5000 });
    expect((roomy.translated as Summary).code_context).toBe(summary.code_context);
    // Smaller again: cut again, on top of the earlier cut.
    const tighter = await world.both(C, { action: 'get_context', session_id: sid, max_tokens: 4 });
    expect((tighter.translated as Summary).code_context).toMatch(/^.{8}\.\.\.$/s);
    // The next add past 50 recomputes the snapshot from the interactions: full texts again.
    await add(sid, 'code', 'more code');
    const fresh = await world.both(C, { action: 'get_context', session_id: sid });
    expect((fresh.translated as Summary).code_context).toContain('No specific domains detected');
  });

  it('a session with decisions only, an unknown session (bare null) and refused writes (bare false)', async () => {
    await decide('carol_proj', 'Only a decision');
    const { translated } = await world.both(C, { action: 'get_context', session_id: 'carol_proj' });
    expect(Object.keys(translated as object)).toEqual(['key_decisions']);
    expect((await world.both(C, { action: 'get_context', session_id: 'nobody_here' })).translated).toBeNull();
    expect((await world.both(C, { action: 'add_interaction', session_id: 'carol_proj', type: 'code' })).translated).toBe(false);
    expect((await world.both(C, { action: 'record_decision', session_id: 'carol_proj' })).translated).toBe(false);
    expect(world.ids.orchestratorId(C, 'nobody_here')).toBeUndefined();
  });

  it('health and unknown actions answer in the agent shape', async () => {
    await world.both(C, { action: 'health_check' }, { mask: ['uptime_seconds', 'total_requests'] });
    const unknown = await world.both(C, { action: 'forget_everything' });
    expect(unknown.translated).toEqual({ status: 'error', message: 'Unknown action: forget_everything' });
  });

  it("recomputes the agent's summary whether the read of the newest interactions sees the one being stored or not", async () => {
    const sid = 'ivan_reads_first';
    for (let i = 0; i < 51; i++) await add(sid, 'user_query', `question ${i}`);
    // The interaction's create is held until the first read has been answered: the read cannot see it.
    const real = new LegOrchestratorClient(world.orchestratorLeg);
    let readAnswered!: () => void;
    const answered = new Promise<void>((r) => (readAnswered = r));
    let reads = 0;
    const client: OrchestratorClient = {
      call(action, sessionId, payload) {
        if (action === 'create') return answered.then(() => real.call(action, sessionId, payload));
        if (action === 'batch_read' && reads++ === 0) return real.call(action, sessionId, payload).finally(readAnswered);
        return real.call(action, sessionId, payload);
      },
    };
    const next = { action: 'add_interaction', session_id: sid, type: 'user_query', content: 'asked while the read ran' };
    await world.legacy(C, next);
    expect(await serviceOf(C).translator(client, world.ids).handle(next, { createMissing: true })).toBe(true);
    // world.both compares the summary with the legacy simulator's, which has the new question among the recent ones.
    const { translated } = await world.both(C, { action: 'get_context', session_id: sid });
    expect((translated as Summary).conversation_summary).toContain('asked while the read ran');
  });

  it('keeps sessions apart through the id map', async () => {
    await decide('dave_a', 'only in a');
    await decide('dave_b', 'only in b');
    world.ids.lookups.length = 0;
    const a = await world.both(C, { action: 'get_context', session_id: 'dave_a' });
    expect(world.ids.lookups).toEqual(['contextual-memory:dave_a']);
    expect((a.translated as Summary).key_decisions.map((d) => d.decision)).toEqual(['only in a']);
  });
});

describe('a contextual write whose outcome was unknown', () => {
  /**
   * The contextual translator over a client whose first snapshot update times out: after going to the orchestrator
   * (`lands`: a late reply, the update applied) or before (lost). Resolves once that update has settled.
   */
  const timingOut = (lands: boolean) => {
    const real = new LegOrchestratorClient(world.orchestratorLeg);
    let settled: Promise<unknown> | undefined;
    const client: OrchestratorClient = {
      call(action, sessionId, payload) {
        if (action !== 'update' || settled) return real.call(action, sessionId, payload);
        settled = lands ? real.call(action, sessionId, payload) : Promise.resolve();
        return Promise.reject(new LegError('timeout', 'no reply within 3000 ms', 'test'));
      },
    };
    return { translator: serviceOf(C).translator(client, world.ids), landed: () => settled };
  };
  const decisionsOf = async (sid: string) => {
    const { translated } = await world.both(C, { action: 'get_context', session_id: sid });
    return (translated as Summary).key_decisions.map((d) => d.decision);
  };

  for (const lands of [false, true]) {
    it(`is finished by its look-up when its snapshot update was ${lands ? 'applied late' : 'lost'}: the decision once in both`, async () => {
      const sid = `erin_${lands ? 'late' : 'lost'}`;
      await decide(sid, 'first');
      const { translator, landed } = timingOut(lands);
      const second = { action: 'record_decision', session_id: sid, decision: 'second' };
      await world.legacy(C, second);
      await expect(translator.handle(second, { createMissing: true, writeId: `w-${sid}` })).rejects.toThrow(/no reply/);
      await landed();
      // The look-up finds the write applied (what it stored is all there), and running it again changes nothing.
      expect(await translator.lookup(second, `w-${sid}`)).toBe('applied');
      expect(await translator.lookup(second, `w-${sid}`)).toBe('applied');
      expect(await translator.lookup(second, 'w-never-sent')).toBe('absent');
      expect(await decisionsOf(sid)).toEqual(['first', 'second']);
      const stored = storedMemories(world, world.ids.orchestratorId(C, sid)).filter((m) => m.memory_type === 'context');
      expect(stored.map((m) => (m.content as { text: string }).text)).toEqual(['first', 'second']);
    });
  }

  for (const lands of [false, true]) {
    it(`finishes an add_interaction past 50 whose summary update was ${lands ? 'applied late' : 'lost'}`, async () => {
      const sid = `gina_${lands ? 'late' : 'lost'}`;
      for (let i = 0; i < 51; i++) await add(sid, 'user_query', `question ${i}`);
      const { translator, landed } = timingOut(lands);
      const next = { action: 'add_interaction', session_id: sid, type: 'user_query', content: 'the question that changes the summary' };
      await world.legacy(C, next);
      await expect(translator.handle(next, { createMissing: true, writeId: `w-${sid}` })).rejects.toThrow(/no reply/);
      await landed();
      // A read that cuts the stored summary, before the look-up: one that recomputed a summary already made would undo it.
      if (lands) await world.both(C, { action: 'get_context', session_id: sid, max_tokens: 20 });
      expect(await translator.lookup(next, `w-${sid}`)).toBe('applied');
      // The summary as the agent's after that interaction (world.both compares it with the legacy simulator's).
      const { translated } = await world.both(C, { action: 'get_context', session_id: sid });
      if (!lands) expect((translated as Summary).conversation_summary).toContain('the question that changes the summary');
      expect(storedMemories(world, world.ids.orchestratorId(C, sid)).filter((m) => m.memory_type === 'context')).toHaveLength(52);
    });
  }

  // A step after the write's memory was created failing in a way that alone says "never sent" (the leg's bound full, the
  // breaker open): the write is an unknown outcome, looked up and finished, not sent again to store its memory twice
  // (the chaos probe did, with a slow orchestrator). Its create itself refused unsent stored nothing: that stays so.
  for (const failing of ['batch_read', 'update', 'create'] as const) {
    it(`an add_interaction past 50 whose ${failing} is refused unsent: ${failing === 'create' ? 'not sent, nothing stored' : 'an unknown outcome its look-up finishes'}`, async () => {
      const sid = `hana_${failing}`;
      for (let i = 0; i < 51; i++) await add(sid, 'user_query', `question ${i}`);
      const real = new LegOrchestratorClient(world.orchestratorLeg);
      let refused = false;
      const client: OrchestratorClient = {
        call(action, sessionId, payload) {
          if (action !== failing || refused) return real.call(action, sessionId, payload);
          refused = true;
          return Promise.reject(new LegError('saturated', '64 calls unanswered: not sending more', 'test'));
        },
      };
      const translator = serviceOf(C).translator(client, world.ids);
      const next = { action: 'add_interaction', session_id: sid, type: 'user_query', content: 'the question asked once' };
      const err = await translator.handle(next, { createMissing: true, writeId: `w-${sid}` }).catch((e: unknown) => e);
      const context = () => storedMemories(world, world.ids.orchestratorId(C, sid)).filter((m) => m.memory_type === 'context');
      if (failing === 'create') {
        expect(isNotSent(err), String(err)).toBe(true);
        expect(await translator.lookup(next, `w-${sid}`)).toBe('absent');
        expect(context()).toHaveLength(51);
        return;
      }
      expect(isUnknownOutcome(err), String(err)).toBe(true);
      await world.legacy(C, next);
      expect(await translator.lookup(next, `w-${sid}`)).toBe('applied');
      // The summary as the agent's after that interaction (world.both compares it with the legacy simulator's).
      const { translated } = await world.both(C, { action: 'get_context', session_id: sid });
      expect((translated as Summary).conversation_summary).toContain('the question asked once');
      expect(context()).toHaveLength(52);
    });
  }

  it('puts a decision finished late before the ones made after it', async () => {
    const sid = 'frank_reordered';
    await decide(sid, 'first');
    const { translator } = timingOut(false);
    const early = { action: 'record_decision', session_id: sid, decision: 'early' };
    await world.legacy(C, early);
    await expect(translator.handle(early, { createMissing: true, writeId: 'w-early' })).rejects.toThrow(/no reply/);
    // The agent went on (new-primary: its call failed, its next one did not wait for the look-up).
    await decide(sid, 'later');
    expect(await translator.lookup(early, 'w-early')).toBe('applied');
    expect(await decisionsOf(sid)).toEqual(['first', 'early', 'later']);
  });
});

describe('two replicas writing one contextual session', () => {
  it('keeps every decision when their writes interleave: the snapshot is changed under the store key lock', async () => {
    const url = await freshDatabaseUrl();
    const locks = [new PgKeyLocks(url), new PgKeyLocks(url)];
    const replicas = locks.map((l) => serviceOf(C).translator(new LegOrchestratorClient(world.orchestratorLeg), world.ids, { locks: l }));
    const sid = 'hana_two_replicas';
    await decide(sid, 'opening');
    // Two agents, one per replica, each deciding in turn; the orchestrator slow enough for their calls to overlap.
    await world.sims.applyFaults('orchestrator', { latencyMs: 5, jitterMs: 5 });
    try {
      await Promise.all(
        replicas.map(async (replica, r) => {
          for (let i = 0; i < 8; i++) {
            const decision = { action: 'record_decision', session_id: sid, decision: `replica ${r} decision ${i}` };
            await world.legacy(C, decision);
            expect(await replica.handle(decision, { createMissing: false })).toBe(true);
          }
        }),
      );
    } finally {
      await world.sims.applyFaults('orchestrator', { latencyMs: 0, jitterMs: 0 });
      await Promise.all(locks.map((l) => l.close()));
    }
    // The two agents' decisions interleave in any order: the comparison with legacy leaves the list aside.
    const { translated } = await world.both(C, { action: 'get_context', session_id: sid, request_id: 'r' }, { mask: ['key_decisions'] });
    const decisions = (translated as Summary).key_decisions.map((d) => d.decision);
    expect(decisions).toHaveLength(17);
    expect(new Set(decisions).size).toBe(17);
  });
});
