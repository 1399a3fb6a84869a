/**
 * The state store hung for 12 s (a TCP relay in front of PostgreSQL, frozen: connections stay open and nothing
 * is answered, as a stopped or partitioned server), at dual-write and at new-primary: agents are served by the
 * primary throughout, health answers (degraded) rather than waiting, secondary writes wait in memory, and every
 * one reaches the secondary once, in order, after the store answers again and the queries it held complete late.
 */
import { describe, expect, it } from 'vitest';
import { serviceSnapshot } from '../../src/flags/source.js';
import { requestOnce } from '../support/zmq-client.js';
import { useRelayedStack } from './relayed.js';
import { drainWithin, expectBothSidesEqual, newRecords, openRows, outboxLeft, sleep, waitUntil, WriteLoad } from './support.js';

describe.each([
  { stage: 'dual-write', more: [] },
  { stage: 'new-primary', more: ['new-primary'] },
])('at $stage', ({ stage, more }) => {
  const stack = useRelayedStack(more);

  /** /healthz, failing the test rather than waiting when it does not answer within 10 s. */
  const health = async () =>
    (await (await fetch(`${stack.proxy().httpUrl}/healthz`, { signal: AbortSignal.timeout(10_000) })).json()) as {
      status: string;
      backends: Record<string, { ok: boolean }>;
    };

  it('serves agents through a 12 s store hang and stores every held write once, in order, when it answers again', async () => {
    const [sims, proxy, flags, url, relay] = [stack.sims(), stack.proxy(), stack.flags(), stack.url(), stack.relay()];
    expect(serviceSnapshot(flags.snapshot(), 'session-memory').stage).toBe(stage);
    const load = new WriteLoad({ prefix: 'storehung', agents: 8, intervalMs: 100, endpoint: () => proxy.fronts['session-memory']! });
    await sleep(1_500);
    // Every agent's session made and mapped before the store goes silent (on a busy host one once was not: at new-primary
    // its every create_session in the hang was answered the store's silence, ten errors).
    await waitUntil(() => load.sessions.every((sid) => (load.acked.get(sid)?.length ?? 0) > 0), 30_000, 'a write of every agent acknowledged');
    expect((await health()).status).toBe('healthy');
    relay.freeze();
    const frozenAt = Date.now();
    await sleep(4_000);
    const during = [await health(), await health(), await health()];
    // A session that is new to the id map: at dual-write legacy answers it (its copy waits with the others); at
    // new-primary it cannot be mapped while the store is silent, and the agent is told so in its own protocol.
    const fresh = `storehung-fresh-${stage}`;
    const created = await requestOnce(proxy.fronts['session-memory']!, { action: 'create_session', session_id: fresh, user_id: 'fresh' }, 15_000);
    const held = await proxy.runner.secondary.stats();
    await sleep(12_000 - (Date.now() - frozenAt));
    const ackedBeforeThaw = load.ackedCount;
    relay.thaw();
    await sleep(1_500);
    await load.stop();
    // Generous, and naming what is left when one runs out: CI run 273 found rows still open 20 s on, once, and said nothing
    // of them (locally the drain takes tens of ms; a claim answered late, its rows left to their 30 s lease, is one guess).
    const left = outboxLeft(proxy.runner.secondary, url);
    await waitUntil(async () => (await proxy.runner.secondary.stats()).memoryQueued === 0, 60_000, 'held writes stored', left);
    await drainWithin(proxy.runner.secondary, 60_000, left);
    await waitUntil(async () => (await openRows(url)).open === 0, 60_000, 'outbox drained', left);

    expect(load.errors, load.report).toBe(0);
    // About 8 agents x 10 writes/s were answered through the hang, not held up by it.
    expect(ackedBeforeThaw).toBeGreaterThan(8 * 10 * 8);
    for (const h of during) {
      expect(h.status).toBe('degraded');
      expect(h.backends['state store']!.ok).toBe(false);
    }
    expect(held.storeUp).toBe(false);
    expect(held.memoryQueued).toBeGreaterThan(300);
    await waitUntil(async () => (await health()).status === 'healthy', 20_000, 'healthy again');
    expect(await proxy.runner.secondary.stats()).toMatchObject({ storeUp: true, memoryQueued: 0, overflowed: 0, reordered: 0, depth: 0, parked: 0 });
    expectBothSidesEqual(sims, load);
    const reply = JSON.parse(created.toString('utf8')) as { status: string; message?: string };
    if (stage === 'dual-write') expect(reply).toMatchObject({ status: 'success', session_id: fresh });
    else expect(reply).toMatchObject({ status: 'error', message: expect.stringContaining('state store gave no answer') });
    // Sent again once the store answers, it is served, and the session is one on the orchestrator.
    const again = await requestOnce(proxy.fronts['session-memory']!, { action: 'create_session', session_id: fresh, user_id: 'fresh' }, 15_000);
    expect(JSON.parse(again.toString('utf8'))).toMatchObject({ status: 'success', session_id: fresh });
    await waitUntil(() => newRecords(sims, fresh).sessions === 1, 20_000, 'the fresh session on the orchestrator');
    await waitUntil(() => sims.models['session-memory'].sessions.has(fresh), 20_000, 'the fresh session on legacy');
  }, 90_000);
});
