/**
 * Acceptance, read your writes at cutover: read-new at 100% for jarvis-memory, the orchestrator failing or
 * hung for a user's write; every read of that user right after the acknowledgement includes the write
 * (served from legacy until it lands on new), through the replica that took the write and through another.
 */
import { expect, it } from 'vitest';
import { flagName } from '../../src/flags/names.js';
import type { Proxy } from '../../src/proxy.js';
import { useReplicas } from '../support/replicas.js';
import { ReqClient } from '../support/zmq-client.js';
import { openRows, waitUntil } from './support.js';

const JARVIS = 'jarvis-memory';
const stack = useReplicas({ [flagName(JARVIS, 'dual-write')]: { enabled: true }, [flagName(JARVIS, 'read-new')]: { enabled: true, rollout: 100 } });

const call = async (p: Proxy, request: unknown) => {
  const c = new ReqClient(p.fronts[JARVIS]!, 10_000);
  try {
    return (await c.call(request)) as { status: string; memories?: { memory: unknown }[] };
  } finally {
    c.close();
  }
};

/** Reads the user 20 times, alternating replicas, and returns how many lacked `memory`. */
async function readsWithout(user: string, memory: unknown): Promise<number> {
  let stale = 0;
  for (let i = 0; i < 20; i++) {
    const reply = await call(stack.proxies()[i % 2]!, { action: 'get_memories', user_id: user });
    if (!reply.memories?.some((m) => JSON.stringify(m.memory) === JSON.stringify(memory))) stale++;
  }
  return stale;
}

it('serves an acknowledged write on every read while the orchestrator fails it, then from new once it landed', async () => {
  await stack.sims().applyFaults('orchestrator', { errorRate: 1 });
  expect((await call(stack.proxies()[0]!, { action: 'add_memory', user_id: 'sr-fail', memory: { n: 1 } })).status).toBe('ok');
  expect(await readsWithout('sr-fail', { n: 1 })).toBe(0);
  await stack.sims().applyFaults('orchestrator', { errorRate: 0 });
  await waitUntil(async () => (await openRows(stack.url())) === 0, 60_000, 'outbox drained');
  const fromNew = () => stack.proxies().reduce((n, p) => n + p.runner.stats.of(JARVIS).servedFromNew, 0);
  const before = fromNew();
  expect(await readsWithout('sr-fail', { n: 1 })).toBe(0);
  // Landed: the reads are the orchestrator's now.
  expect(fromNew() - before).toBe(20);
}, 90_000);

it('serves an acknowledged write on every read while the orchestrator hangs on it', async () => {
  await stack.sims().applyFaults('orchestrator', { hang: true });
  try {
    expect((await call(stack.proxies()[1]!, { action: 'add_memory', user_id: 'sr-hang', memory: { n: 2 } })).status).toBe('ok');
    expect(await readsWithout('sr-hang', { n: 2 })).toBe(0);
  } finally {
    await stack.sims().applyFaults('orchestrator', { hang: false });
  }
  await waitUntil(async () => (await openRows(stack.url())) === 0, 60_000, 'outbox drained');
  expect(await readsWithout('sr-hang', { n: 2 })).toBe(0);
}, 120_000);
