/**
 * Two proxies on one store with the orchestrator primary for contextual-memory: two agents deciding in one session,
 * one through each proxy, lose no decision on either side and hold them in one order (the agent's snapshot is read,
 * changed and written back on the orchestrator, so the replicas take turns on it through the store's key lock).
 */
import { expect, it } from 'vitest';
import { flagName } from '../../src/flags/names.js';
import { useReplicas } from '../support/replicas.js';
import { ReqClient } from '../support/zmq-client.js';
import { openRows, waitUntil } from './support.js';
import { PgKeyLocks } from '../../src/store/key-locks.js';
import { startProxy } from '../../src/proxy.js';
import { configFor } from '../support/stack.js';

const C = 'contextual-memory';
const stack = useReplicas({ [flagName(C, 'dual-write')]: { enabled: true }, [flagName(C, 'new-primary')]: { enabled: true } });

const decisions = (reply: unknown) => (reply as { key_decisions: { decision: string }[] }).key_decisions.map((d) => d.decision);

it('keeps every decision of two agents deciding in one session through two replicas, in one order on both sides', async () => {
  const [sims, proxies, url] = [stack.sims(), stack.proxies(), stack.url()];
  // The orchestrator slow enough for the two replicas' calls to overlap.
  await sims.applyFaults('orchestrator', { latencyMs: 2, jitterMs: 10 });
  const agents = proxies.map((p) => new ReqClient(p.fronts[C]!, 10_000));
  const acked: string[] = [];
  try {
    await Promise.all(
      agents.map(async (agent, a) => {
        for (let n = 0; n < 20; n++) {
          const decision = `agent ${a} decision ${n}`;
          if ((await agent.call({ action: 'record_decision', session_id: 'shared_project', decision })) === true) acked.push(decision);
        }
      }),
    );
  } finally {
    agents.forEach((a) => a.close());
    await sims.applyFaults('orchestrator', { latencyMs: 0, jitterMs: 0 });
  }
  expect(acked).toHaveLength(40);
  await waitUntil(async () => (await openRows(url)).open === 0, 60_000, 'outbox drained');

  const request = { action: 'get_context', session_id: 'shared_project' };
  const legacy = decisions(sims.models[C].handle(request));
  expect(legacy.slice().sort()).toEqual(acked.slice().sort());
  for (const p of proxies) {
    const fresh = decisions(await p.runner.translators[C]!.handle(request, { createMissing: false }));
    expect(fresh).toEqual(legacy);
  }
}, 90_000);

it("answers the agent with an error in the service's own shape, and stores nothing, when the session stays held past the wait", async () => {
  const [sims, proxies, url] = [stack.sims(), stack.proxies(), stack.url()];
  // A third replica that waits half a second (under the orchestrator's 2 s timeout, so it refuses rather than times out).
  const impatient = await startProxy(configFor(sims, url, { store: { keyLockWaitMs: 500 } }), { flags: stack.flags() });
  // Held as a replica stopped in the middle of a write would hold it.
  const stopped = new PgKeyLocks(url);
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let entered!: () => void;
  const holding = new Promise<void>((r) => (entered = r));
  const held = stopped.hold(C, 'held_session', () => (entered(), released));
  await holding;
  const agent = new ReqClient(impatient.fronts[C]!, 10_000);
  try {
    // Refused unsent (the call was never made), in the agent's own error shape; not a timeout.
    expect(await agent.call({ action: 'record_decision', session_id: 'held_session', decision: 'waits its turn' })).toEqual({
      status: 'error',
      message:
        'memshift: contextual-memory backend saturated (state store key lock): contextual-memory key "held_session" is held by another replica (waited 500 ms)',
    });
  } finally {
    agent.close();
    release();
    await held;
    await stopped.close();
    await impatient.close();
  }
  const request = { action: 'get_context', session_id: 'held_session' };
  expect(await proxies[1]!.runner.translators[C]!.handle(request, { createMissing: false })).toBeNull();
  expect(sims.models[C].handle(request)).toBeNull();
}, 60_000);
