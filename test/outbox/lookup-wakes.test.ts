/**
 * A copy whose primary's outcome must be looked up first (the primary timed out on it, or its storer was killed
 * before it recorded the answer) while that primary's breaker is open: the look-up never leaves, so it is not
 * counted as an attempt, and the copy waits its backoff rather than being woken by every other copy landing on its own
 * side. The chaos probe saw such copies towards the orchestrator of writes JarvisMemoryAgent had answered too late
 * (and applied), its breaker open, woken by each session-memory copy that landed there: 100 attempts in 3.5 s, then
 * parked, the writes on legacy only. Here the row is one a killed storer left.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { expect, it } from 'vitest';
import { OutboxTable } from '../../src/outbox/table.js';
import { ReqClient } from '../support/zmq-client.js';
import { useRelayedStack } from './relayed.js';
import { queryOnce, sleep } from './support.js';

const MAX_ATTEMPTS = 12;
// Its breaker, once open, stays open for the whole test: each look-up at JarvisMemoryAgent is refused at once.
const stack = useRelayedStack([], { config: { breaker: { failureThreshold: 3, openMs: 60_000 }, outbox: { maxAttempts: MAX_ATTEMPTS } } });
const J = 'jarvis-memory' as const;

const attemptsOf = async (id: string) =>
  (await queryOnce<{ status: string; attempts: number }>(stack.url(), `SELECT status, attempts FROM outbox WHERE id = '${id}'`))[0]!;

it("is not woken by other copies landing on its side while its primary's look-up is refused", async () => {
  const [sims, proxy] = [stack.sims(), stack.proxy()];
  const agent = new ReqClient(proxy.fronts['session-memory']!);
  const id = randomUUID();
  const request = { action: 'add_memory', user_id: 'woken', memory: { record: 'left by a killed replica' } };
  await sims.applyFaults(J, { hang: true });
  try {
    expect(await agent.call({ action: 'create_session', session_id: 'busy', user_id: 'busy' })).toMatchObject({ status: 'success' });
    // As a replica killed between its primary call and recording the answer left it: the primary's outcome unknown.
    const intent = { id, service: J, key: 'woken', action: 'add_memory', side: 'new' as const, raw: Buffer.from(JSON.stringify(request)) };
    const pool = new pg.Pool({ connectionString: stack.url() });
    await new OutboxTable(pool).insert({ ...intent, effect: 'neutral', createdAt: new Date() }, 0, null);
    await pool.end();
    // Jarvis agents' requests time out at the hung JarvisMemoryAgent until its breaker opens (off stage: legacy only).
    const jarvis = new ReqClient(proxy.fronts[J]!);
    try {
      while (proxy.legs.legacy[J]!.stats().breaker !== 'open')
        expect(await jarvis.call({ action: 'get_memories', user_id: 'other' })).toMatchObject({ status: 'error' });
    } finally {
      jarvis.close();
    }
    const before = await attemptsOf(id);
    // Session-memory's copies land on the orchestrator meanwhile, a few a second.
    for (let n = 0; n < 60; n++) {
      expect(await agent.call({ action: 'add_interaction', session_id: 'busy', role: 'user', content: `landing ${n}` })).toMatchObject({ status: 'success' });
      await sleep(50);
    }
    // Read while no claim has it in hand: its backoff's own claim counts an attempt until it gives the row back.
    let after = await attemptsOf(id);
    for (const until = Date.now() + 10_000; after.status === 'inflight' && Date.now() < until; after = await attemptsOf(id)) await sleep(20);
    expect(after.status).toBe('pending');
    expect(after.attempts).toBe(before.attempts);
  } finally {
    agent.close();
    await sims.applyFaults(J, { hang: false });
  }
}, 120_000);
