/** The simulators' faults: latency, error rate, divergent writes, down / up, hang. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { noFaults, parseFaultAssignment } from '../../src/tools/sim/faults.js';
import { envelope, send, sendRaw, startTestSims } from './helpers.js';

let sim: SimHandle;
beforeAll(async () => {
  sim = await startTestSims({ controlPort: 0, controlToken: TOKEN, faults: { 'contextual-memory': { latencyMs: 0, jitterMs: 0 } } });
});
afterAll(async () => {
  await sim?.close();
});

const timed = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
  const t0 = performance.now();
  const out = await fn();
  return [out, performance.now() - t0];
};
const TOKEN = 'sim-control-token';
const auth = { authorization: `Bearer ${TOKEN}` };
const reset = () => fetch(`${sim.controlUrl}/faults`, { method: 'DELETE', headers: auth });

describe('latency', () => {
  it('delays replies by latencyMs plus jitter', async () => {
    const ep = sim.endpoints['session-memory'];
    sim.setFaults('session-memory', { latencyMs: 150, jitterMs: 50 });
    const [reply, slow] = await timed(() => send(ep, { action: 'health_check' }));
    expect(reply).toEqual({ status: 'ok' });
    expect(slow).toBeGreaterThanOrEqual(145);
    expect(slow).toBeLessThan(800);
    sim.setFaults('session-memory', { latencyMs: 0, jitterMs: 0 });
    const [, fast] = await timed(() => send(ep, { action: 'health_check' }));
    expect(fast).toBeLessThan(100);
  });
});

describe('errorRate', () => {
  afterAll(reset);

  it('answers every target with its own error shape and applies nothing', async () => {
    for (const t of ['session-memory', 'contextual-memory', 'jarvis-memory', 'orchestrator'] as const) sim.setFaults(t, { errorRate: 1 });
    expect(await sendRaw(sim.endpoints['session-memory'], { action: 'create_session', session_id: 'e1', request_id: 'r' })).toBe(
      '{"status": "error", "message": "Simulated failure", "request_id": "r"}',
    );
    expect(sim.models['session-memory'].sessions.has('e1')).toBe(false);
    expect(await send(sim.endpoints['contextual-memory'], { action: 'add_interaction', session_id: 'e1', type: 'code', content: 'x' })).toEqual({
      status: 'error',
      message: 'Simulated failure',
    });
    expect(sim.models['contextual-memory'].sessions.has('e1')).toBe(false);
    expect(await send(sim.endpoints['jarvis-memory'], { action: 'add_memory', user_id: 'e1', memory: 1 })).toEqual({
      status: 'error',
      reason: 'Simulated failure',
    });
    expect(sim.models['jarvis-memory'].users.has('e1')).toBe(false);
    const orch = await send(sim.endpoints.orchestrator, envelope('create_session', undefined, { user_id: 'e1' }));
    expect(orch.error.code).toBe('internal_error');
    expect(sim.models.orchestrator.sessions.size).toBe(0);
  });
});

describe('down / up', () => {
  it('makes a target unreachable, then serves again on the same port', async () => {
    const ep = sim.endpoints['jarvis-memory'];
    await send(ep, { action: 'add_memory', user_id: 'd', memory: 'kept' });
    await sim.down('jarvis-memory');
    expect(sim.getFaults()['jarvis-memory'].down).toBe(true);
    await expect(sendRaw(ep, { action: 'get_memories', user_id: 'd' }, 300)).rejects.toThrow();
    await sim.up('jarvis-memory');
    expect(sim.endpoints['jarvis-memory']).toBe(ep);
    expect((await send(ep, { action: 'get_memories', user_id: 'd' })).memories.map((m: any) => m.memory)).toEqual(['kept']);
  });
});

describe('divergence', () => {
  afterAll(reset);

  it('alters writes while acknowledging them', async () => {
    for (const t of ['session-memory', 'contextual-memory', 'jarvis-memory', 'orchestrator'] as const)
      sim.setFaults(t, { divergence: { rate: 1, mode: 'alter' } });
    const sm = sim.endpoints['session-memory'];
    expect((await send(sm, { action: 'create_session', session_id: 'dv' })).status).toBe('success');
    expect(await send(sm, { action: 'add_interaction', session_id: 'dv', role: 'user', content: 'original' })).toMatchObject({ status: 'success' });
    const ctx = await send(sm, { action: 'get_context', session_id: 'dv' });
    expect(ctx.context).toHaveLength(1);
    expect(ctx.context[0].content).not.toBe('original');

    expect(await sendRaw(sim.endpoints['contextual-memory'], { action: 'add_interaction', session_id: 'dv', type: 'error', content: 'an error' })).toBe('true');
    expect(sim.models['contextual-memory'].sessions.get('dv')?.newestFirst[0]?.content).not.toBe('an error');

    expect(await send(sim.endpoints['jarvis-memory'], { action: 'add_memory', user_id: 'dv', memory: { a: 1 } })).toEqual({ status: 'ok' });
    const mem = await send(sim.endpoints['jarvis-memory'], { action: 'get_memories', user_id: 'dv' });
    expect(mem.memories).toHaveLength(1);
    expect(mem.memories[0].memory).not.toEqual({ a: 1 });

    const o = sim.endpoints.orchestrator;
    const sid = (await send(o, envelope('create_session', undefined, { user_id: 'dv' }))).data.session_id;
    const created = await send(o, envelope('create', sid, { memory_type: 'entity', content: { text: 'truth' } }));
    expect(created.status).toBe('success');
    const read = await send(o, envelope('read', sid, { memory_id: created.data.memory_id }));
    expect(read.data.content.text).not.toBe('truth');
  });

  it('drops writes while acknowledging them', async () => {
    for (const t of ['session-memory', 'jarvis-memory', 'orchestrator'] as const) sim.setFaults(t, { divergence: { rate: 1, mode: 'drop' } });
    const sm = sim.endpoints['session-memory'];
    expect(await send(sm, { action: 'add_interaction', session_id: 'dv', role: 'user', content: 'lost' })).toMatchObject({ status: 'success' });
    expect((await send(sm, { action: 'get_context', session_id: 'dv' })).context.map((c: any) => c.content)).not.toContain('lost');
    expect(await send(sim.endpoints['jarvis-memory'], { action: 'clear_memories', user_id: 'dv' })).toEqual({ status: 'ok' });
    expect((await send(sim.endpoints['jarvis-memory'], { action: 'get_memories', user_id: 'dv' })).memories).toHaveLength(1);

    sim.setFaults('orchestrator', { divergence: { rate: 0 } });
    const o = sim.endpoints.orchestrator;
    const sid = (await send(o, envelope('create_session', undefined, { user_id: 'dr' }))).data.session_id;
    sim.setFaults('orchestrator', { divergence: { rate: 1 } });
    const created = await send(o, envelope('create', sid, { memory_type: 'entity', content: { text: 'ghost' } }));
    expect(created.data.memory_id).toMatch(/^mem-[0-9a-f]{8}$/);
    expect((await send(o, envelope('read', sid, { memory_id: created.data.memory_id }))).error.code).toBe('memory_not_found');
  });
});

describe('control endpoint', () => {
  afterAll(reset);
  const url = (p: string) => `${sim.controlUrl}${p}`;
  const json = (method: string, body?: unknown): RequestInit =>
    body === undefined ? { method, headers: auth } : { method, headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) };
  const read = async (res: Promise<Response>): Promise<any> => (await res).json();

  it('refuses callers without the bearer token', async () => {
    expect((await fetch(url('/faults'))).status).toBe(401);
    expect((await fetch(url('/faults/orchestrator/down'), { method: 'POST', headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect(sim.getFaults().orchestrator.down).toBe(false);
  });

  it('reads and merges faults, rejecting unknown targets and bad bodies', async () => {
    await reset();
    const all = await read(fetch(url('/faults'), json('GET')));
    expect(Object.keys(all).sort()).toEqual(['contextual-memory', 'jarvis-memory', 'orchestrator', 'session-memory']);
    expect(all.orchestrator).toEqual(noFaults());
    const put = await fetch(url('/faults/orchestrator'), json('PUT', { latencyMs: 5, divergence: { rate: 0.5 } }));
    expect(put.status).toBe(200);
    expect(await put.json()).toEqual({ ...noFaults(), latencyMs: 5, divergence: { rate: 0.5, mode: 'alter' } });
    expect(sim.getFaults().orchestrator.latencyMs).toBe(5);
    const unknown = await fetch(url('/faults/mainframe'), json('PUT', { latencyMs: 1 }));
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as any).error).toContain('mainframe');
    expect((await fetch(url('/faults/orchestrator'), json('PUT', { latencyMs: -1 }))).status).toBe(400);
    expect((await fetch(url('/faults/orchestrator'), json('PUT', { bogus: true }))).status).toBe(400);
    expect((await fetch(url('/faults/orchestrator'), json('PUT', { errorRate: 2 }))).status).toBe(400);
    expect((await fetch(url('/faults/nowhere/down'), json('POST'))).status).toBe(404);
  });

  it('takes a target down and up, and resets everything', async () => {
    const ep = sim.endpoints['session-memory'];
    expect((await fetch(url('/faults/session-memory/down'), json('POST'))).status).toBe(200);
    await expect(sendRaw(ep, { action: 'health_check' }, 300)).rejects.toThrow();
    expect((await read(fetch(url('/faults/session-memory/up'), json('POST')))).down).toBe(false);
    expect(await send(ep, { action: 'health_check' })).toEqual({ status: 'ok' });

    await fetch(url('/faults/contextual-memory'), json('PUT', { down: true, errorRate: 0.3 }));
    await expect(sendRaw(sim.endpoints['contextual-memory'], { action: 'health_check' }, 300)).rejects.toThrow();
    const after = await read(fetch(url('/faults'), json('DELETE')));
    expect(after['contextual-memory']).toEqual(noFaults());
    expect((await send(sim.endpoints['contextual-memory'], { action: 'health_check' })).status).toBe('ok');
  });
});

describe('--fault assignments', () => {
  it('parses target.key=value into validated patches', () => {
    expect(parseFaultAssignment('orchestrator.latencyMs=50')).toEqual({ target: 'orchestrator', patch: { latencyMs: 50 } });
    expect(parseFaultAssignment('session-memory.down=true')).toEqual({ target: 'session-memory', patch: { down: true } });
    expect(parseFaultAssignment('jarvis-memory.divergence.mode=drop')).toEqual({ target: 'jarvis-memory', patch: { divergence: { mode: 'drop' } } });
    expect(() => parseFaultAssignment('mainframe.latencyMs=1')).toThrow(/unknown target/);
    expect(() => parseFaultAssignment('orchestrator.errorRate=7')).toThrow(/errorRate|7|1/);
    expect(() => parseFaultAssignment('orchestrator.speed=1')).toThrow();
    expect(() => parseFaultAssignment('orchestrator')).toThrow(/target.key=value/);
  });
});

describe('hang', () => {
  afterAll(reset);

  it("takes requests in and answers none while hung, then applies and answers them all, a gone client's too", async () => {
    const ep = sim.endpoints['jarvis-memory'];
    const res = await fetch(`${sim.controlUrl}/faults/jarvis-memory`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'application/json' },
      body: '{"hang": true}',
    });
    expect(((await res.json()) as { hang: boolean }).hang).toBe(true);
    // This client gives up (and its socket goes) before the service wakes: its write is still applied.
    await expect(send(ep, { action: 'add_memory', user_id: 'h', memory: 0 }, 300)).rejects.toThrow();
    const waiting = [1, 2].map((memory) => send(ep, { action: 'add_memory', user_id: 'h', memory }, 10_000));
    await new Promise((r) => setTimeout(r, 500));
    expect(sim.models['jarvis-memory'].users.has('h')).toBe(false);
    await sim.applyFaults('jarvis-memory', { hang: false });
    expect(await Promise.all(waiting)).toEqual([{ status: 'ok' }, { status: 'ok' }]);
    // The first one was in hand when it hung; the other two came on two connections, in either order.
    const applied = sim.models['jarvis-memory'].users.get('h')!.map((e) => e.memory);
    expect(applied[0]).toBe(0);
    expect(applied.slice(1).sort()).toEqual([1, 2]);
  });

  it('can be set at start', () => {
    expect(parseFaultAssignment('orchestrator.hang=true')).toEqual({ target: 'orchestrator', patch: { hang: true } });
  });
});
