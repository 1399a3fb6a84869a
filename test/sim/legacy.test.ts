/** The legacy simulators answer as PROTOCOLS.md section 1 says the agents do. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { isoLocal, selectContext } from '../../src/services/session-memory/context.js';
import { send, sendRaw, startTestSims } from './helpers.js';

let sim: SimHandle;
let deployed: SimHandle;
beforeAll(async () => {
  sim = await startTestSims();
  deployed = await startTestSims({ contextualMode: 'as-deployed' });
});
afterAll(async () => {
  await sim?.close();
  await deployed?.close();
});

const ISO_LOCAL = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$/;

describe('session context helpers', () => {
  it('formats like datetime.isoformat(), dropping a zero fraction', () => {
    expect(isoLocal(new Date(2026, 10, 21, 12, 50, 34, 123).getTime() * 1000 + 456)).toBe('2026-11-21T12:50:34.123456');
    expect(isoLocal(new Date(2026, 0, 2, 3, 4, 5, 0).getTime() * 1000)).toBe('2026-01-02T03:04:05');
  });
  it('stops at the first interaction that would exceed the budget', () => {
    const e = (content: string) => ({ role: 'user', content, timestamp: 't' });
    const list = [e('a'.repeat(4)), e('b'.repeat(400)), e('c'.repeat(8))];
    expect(selectContext(list, 102).map((x) => x.content[0])).toEqual(['b', 'c']);
    expect(selectContext(list, 50).map((x) => x.content[0])).toEqual(['c']);
  });
});

describe('SessionMemoryAgent', () => {
  const ep = () => sim.endpoints['session-memory'];

  it('answers health_check and unknown actions, echoing request_id', async () => {
    expect(await sendRaw(ep(), { action: 'health_check' })).toBe('{"status": "ok"}');
    expect(await send(ep(), { action: 'frobnicate', request_id: 'r9' })).toEqual({
      status: 'error',
      message: 'Unknown action: frobnicate',
      request_id: 'r9',
    });
    expect(await send(ep(), [1, 2])).toEqual({ status: 'error', message: "'list' object has no attribute 'get'", request_id: null });
  });

  it('creates sessions with a given or a uuid4 id, byte-identical to json.dumps', async () => {
    expect(await sendRaw(ep(), { action: 'create_session', session_id: 's-bytes', request_id: 'r1' })).toBe(
      '{"status": "success", "session_id": "s-bytes", "request_id": "r1"}',
    );
    const made = await send(ep(), { action: 'create_session', user_id: 'u1' });
    expect(made.session_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(made.request_id).toBeNull();
    expect(sim.models['session-memory'].sessions.get(made.session_id)?.user_id).toBe('u1');
  });

  it('rejects interactions with missing fields or for an unknown session', async () => {
    expect(await send(ep(), { action: 'add_interaction', session_id: 's-bytes', role: 'user', request_id: 'r2' })).toEqual({
      status: 'error',
      message: 'Missing required parameters',
      request_id: 'r2',
    });
    expect(await sendRaw(ep(), { action: 'add_interaction', session_id: 'nope', role: 'user', content: 'hi', request_id: 'r3' })).toBe(
      '{"status": "error", "request_id": "r3"}',
    );
    expect(await send(ep(), { action: 'get_context', request_id: 'r4' })).toEqual({ status: 'error', message: 'Missing session_id', request_id: 'r4' });
  });

  it('returns context within the token budget, oldest first, with local ISO timestamps', async () => {
    await send(ep(), { action: 'create_session', session_id: 'ctx' });
    for (const [role, content] of [
      ['user', 'a'.repeat(40)],
      ['assistant', 'b'.repeat(80)],
      ['user', 'c'.repeat(43)],
    ]) {
      expect(await send(ep(), { action: 'add_interaction', session_id: 'ctx', role, content, request_id: 'w' })).toEqual({
        status: 'success',
        request_id: 'w',
      });
    }
    const all = await send(ep(), { action: 'get_context', session_id: 'ctx', request_id: 'g' });
    expect(all.context.map((c: any) => c.content[0])).toEqual(['a', 'b', 'c']);
    expect(Object.keys(all.context[0])).toEqual(['role', 'content', 'timestamp']);
    expect(all.context[0].timestamp).toMatch(ISO_LOCAL);
    const thirty = await send(ep(), { action: 'get_context', session_id: 'ctx', max_tokens: 30 });
    expect(thirty.context.map((c: any) => c.role)).toEqual(['assistant', 'user']);
    const few = await send(ep(), { action: 'get_context', session_id: 'ctx', max_tokens: 29 });
    expect(few.context.map((c: any) => c.content)).toEqual(['c'.repeat(43)]);
    expect(await send(ep(), { action: 'get_context', session_id: 'never', request_id: 'u' })).toEqual({
      status: 'success',
      context: [],
      request_id: 'u',
    });
  });

  it('applies the default budget of 2000 tokens', async () => {
    await send(ep(), { action: 'create_session', session_id: 'big' });
    await send(ep(), { action: 'add_interaction', session_id: 'big', role: 'user', content: 'x'.repeat(8004) });
    expect((await send(ep(), { action: 'get_context', session_id: 'big' })).context).toEqual([]);
    expect((await send(ep(), { action: 'get_context', session_id: 'big', max_tokens: 2001 })).context).toHaveLength(1);
  });

  it('escapes non-ASCII text as Python does', async () => {
    await send(ep(), { action: 'create_session', session_id: 'uni' });
    await send(ep(), { action: 'add_interaction', session_id: 'uni', role: 'user', content: 'café "ok"' });
    const raw = await sendRaw(ep(), { action: 'get_context', session_id: 'uni', request_id: 'b' });
    expect(raw).toMatch(
      /^\{"status": "success", "context": \[\{"role": "user", "content": "caf\\u00e9 \\"ok\\"", "timestamp": "[^"]+"\}\], "request_id": "b"\}$/,
    );
  });

  it('clears a session but keeps it; deletes a session entirely', async () => {
    await send(ep(), { action: 'create_session', session_id: 'cl' });
    await send(ep(), { action: 'add_interaction', session_id: 'cl', role: 'user', content: 'hello there' });
    expect(await send(ep(), { action: 'clear_session', session_id: 'cl', request_id: 'c' })).toEqual({ status: 'success', request_id: 'c' });
    expect((await send(ep(), { action: 'get_context', session_id: 'cl' })).context).toEqual([]);
    expect((await send(ep(), { action: 'add_interaction', session_id: 'cl', role: 'user', content: 'again' })).status).toBe('success');
    expect(await send(ep(), { action: 'delete_session', session_id: 'cl', request_id: 'd' })).toEqual({ status: 'success', request_id: 'd' });
    expect((await send(ep(), { action: 'add_interaction', session_id: 'cl', role: 'user', content: 'gone' })).status).toBe('error');
    expect((await send(ep(), { action: 'clear_session' })).message).toBe('Missing session_id');
  });
});

describe('ContextualMemoryAgent (faithful)', () => {
  const ep = () => sim.endpoints['contextual-memory'];
  const add = (session_id: string, type: string, content: string) => sendRaw(ep(), { action: 'add_interaction', session_id, type, content });

  it('answers writes with bare true / false and an unknown session with bare null', async () => {
    expect(await add('u_proj', 'user_query', 'hello')).toBe('true');
    expect(await sendRaw(ep(), { action: 'record_decision', session_id: 'u_proj', decision: 'use sqlite' })).toBe('true');
    expect(await sendRaw(ep(), { action: 'record_decision', session_id: 'u_proj' })).toBe('false');
    expect(await sendRaw(ep(), { action: 'get_context', session_id: 'u_nothing' })).toBe('null');
    expect(await send(ep(), { action: 'nope' })).toEqual({ status: 'error', message: 'Unknown action: nope' });
    const health = await send(ep(), { action: 'health_check' });
    expect(health).toMatchObject({ status: 'ok', service: 'contextual_memory_agent' });
  });

  it('summarises code with domains, conversation, errors and decisions to the character, once past 50 interactions', async () => {
    const s = 'dev_2026-11-21';
    // Fillers of a type the summary does not read; the recompute sees the newest 51 (all of the ones below).
    for (let i = 0; i < 42; i++) await add(s, 'note', `old ${i}`);
    expect(await sendRaw(ep(), { action: 'get_context', session_id: s })).toBe('null');
    await add(s, 'code', 'SELECT * FROM database\nline two');
    await add(s, 'code', 'def handler(): http thread');
    for (const q of ['q1', 'q2', 'q3', `q4${'z'.repeat(150)}`]) await add(s, 'user_query', q);
    await add(s, 'system_response', 'answer');
    await add(s, 'error', 'Some Error here');
    await add(s, 'error', 'nothing to see');
    await add(s, 'error', `RuntimeException ${'e'.repeat(300)}`);
    await sendRaw(ep(), { action: 'record_decision', session_id: s, decision: 'first' });
    await sendRaw(ep(), { action: 'record_decision', session_id: s, decision: 'second' });

    const raw = await sendRaw(ep(), { action: 'get_context', session_id: s, max_tokens: 4000 });
    const summary = JSON.parse(raw);
    expect(Object.keys(summary)).toEqual(['last_updated', 'code_context', 'conversation_summary', 'errors_encountered', 'key_decisions']);
    expect(raw).toMatch(/^\{"last_updated": \d+\.\d+, /);
    expect(summary.code_context).toBe(
      'Code Summary:\nTotal snippets: 2\nTotal lines: 4\n' +
        '\nDatabase Operations:\n- SQL queries and database interactions present\n' +
        '\nWeb Functionality:\n- HTTP endpoints and web routes present\n' +
        '\nConcurrency Features:\n- Threading and async operations present\n' +
        '\nDETECTED DOMAINS: database operations, web functionality, concurrency features\n',
    );
    expect(summary.conversation_summary).toBe(
      `Conversation Summary:\nTotal queries: 4\nTotal responses: 1\n\nRecent Queries:\n- q4${'z'.repeat(98)}...\n- q3...\n- q2...\n`,
    );
    expect(summary.errors_encountered).toEqual([`RuntimeException ${'e'.repeat(300)}`.slice(0, 200), 'Some Error here']);
    expect(summary.key_decisions.map((d: any) => d.decision)).toEqual(['first', 'second']);
    expect(Object.keys(summary.key_decisions[0])).toEqual(['timestamp', 'decision']);
    expect(typeof summary.key_decisions[0].timestamp).toBe('number');

    const cut = await send(ep(), { action: 'get_context', session_id: s, max_tokens: 21 });
    expect(cut.code_context).toBe(`${'Code Summary:\nTotal snippets: 2\nTotal lines: 4\n\nDatabase Operations:\n'.slice(0, 40)}...`);
    expect(cut.conversation_summary).toBe('Conversation Summary:\nTotal queries: 4\nT...');
  });

  it('reports no domains, and a decisions-only session holds nothing but its decisions', async () => {
    for (let i = 0; i < 51; i++) await add('plain', 'code', 'x = 1');
    expect((await send(ep(), { action: 'get_context', session_id: 'plain' })).code_context).toBe(
      'Code Summary:\nTotal snippets: 51\nTotal lines: 101\n\nNo specific domains detected\n',
    );
    expect(deployedOrSim().sessions.get('plain')!.newestFirst).toHaveLength(50);
    await sendRaw(ep(), { action: 'record_decision', session_id: 'only_dec', decision: 'd' });
    const s = await send(ep(), { action: 'get_context', session_id: 'only_dec' });
    expect(Object.keys(s)).toEqual(['key_decisions']);
  });
});

/** The faithful contextual simulator's model. */
const deployedOrSim = () => sim.models['contextual-memory'];

describe('ContextualMemoryAgent (as deployed)', () => {
  const ep = () => deployed.endpoints['contextual-memory'];

  it('misreports successful writes as errors while making them', async () => {
    expect(await sendRaw(ep(), { action: 'add_interaction', session_id: 'dep', type: 'user_query', content: 'hi' })).toBe(
      `{"status": "error", "message": "'bool' object has no attribute 'get'"}`,
    );
    expect(await send(ep(), { action: 'record_decision', session_id: 'dep', decision: 'x' })).toEqual({
      status: 'error',
      message: "'bool' object has no attribute 'get'",
    });
    expect(deployed.models['contextual-memory'].sessions.get('dep')?.newestFirst.map((i) => i.content)).toEqual(['hi']);
    // A snapshot (a dict) passes the loop's .get("status") and is sent as it is.
    const summary = await send(ep(), { action: 'get_context', session_id: 'dep' });
    expect(summary).toEqual({ key_decisions: [{ timestamp: expect.any(Number), decision: 'x' }] });
    expect(await send(ep(), { action: 'get_context', session_id: 'missing' })).toEqual({
      status: 'error',
      message: "'NoneType' object has no attribute 'get'",
    });
  });
});

describe('JarvisMemoryAgent', () => {
  const ep = () => sim.endpoints['jarvis-memory'];

  it('stores any JSON per user, oldest first, with epoch float timestamps', async () => {
    const reminder = { type: 'reminder', text: 'café at 5' };
    expect(await sendRaw(ep(), { action: 'add_memory', user_id: 'ann', memory: reminder })).toBe('{"status": "ok"}');
    await send(ep(), { action: 'add_memory', user_id: 'ann', memory: 'plain string' });
    await send(ep(), { action: 'add_memory', memory: 42 });
    const raw = await sendRaw(ep(), { action: 'get_memories', user_id: 'ann' });
    expect(raw).toMatch(/^\{"status": "ok", "memories": \[\{"timestamp": \d+\.\d+, "memory": \{"type": "reminder", "text": "caf\\u00e9 at 5"\}\}, /);
    const got = JSON.parse(raw);
    expect(got.memories.map((m: any) => m.memory)).toEqual([reminder, 'plain string']);
    expect(got.memories[0].timestamp).toBeLessThanOrEqual(got.memories[1].timestamp);
    expect((await send(ep(), { action: 'get_memories' })).memories.map((m: any) => m.memory)).toEqual([42]);
  });

  it('clears one user and reports errors with reason', async () => {
    await send(ep(), { action: 'add_memory', user_id: 'bob', memory: 'x' });
    expect(await send(ep(), { action: 'clear_memories', user_id: 'bob' })).toEqual({ status: 'ok' });
    expect(await send(ep(), { action: 'get_memories', user_id: 'bob' })).toEqual({ status: 'ok', memories: [] });
    expect(await sendRaw(ep(), { action: 'forget' })).toBe('{"status": "error", "reason": "Unknown action"}');
    expect(await send(ep(), '"just text"')).toEqual({ status: 'error', reason: "'str' object has no attribute 'get'" });
    expect(await sendRaw(ep(), 'not json{')).toBe('{"status": "error", "reason": "Invalid JSON request"}');
  });
});
