/**
 * Two proxies on one store with the orchestrator primary for contextual-memory: two agents deciding in one session,
 * one through each proxy, lose no decision on either side (the agent's snapshot is read, changed and written back
 * on the orchestrator, so the replicas take turns on it through the store's key lock).
 */
import { expect, it } from 'vitest';
import { flagName } from '../../src/flags/names.js';
import { useReplicas } from '../support/replicas.js';
import { ReqClient } from '../support/zmq-client.js';
import { openRows, waitUntil } from './support.js';

const C = 'contextual-memory';
const stack = useReplicas({ [flagName(C, 'dual-write')]: { enabled: true }, [flagName(C, 'new-primary')]: { enabled: true } });

const decisions = (reply: unknown) => (reply as { key_decisions: { decision: string }[] }).key_decisions.map((d) => d.decision);

it('keeps every decision of two agents deciding in one session through two replicas, on both sides', async () => {
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
  for (const p of proxies) {
    const fresh = decisions(await p.runner.translators[C]!.handle(request, { createMissing: false }));
    expect(fresh.slice().sort()).toEqual(acked.slice().sort());
  }
  expect(decisions(sims.models[C].handle(request)).slice().sort()).toEqual(acked.slice().sort());
}, 90_000);
