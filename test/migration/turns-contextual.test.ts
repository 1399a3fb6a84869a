/**
 * A turn back from new-primary with ContextualMemoryAgent restarting (turned.ts), for its mutating read: get_context,
 * carried as a write, is moved to the orchestrator with the key's decisions still queued towards legacy, so the agent
 * reads every decision it recorded, and legacy gets them in order once it answers.
 */
import { expect, it } from 'vitest';
import { turnEdits, useTurningStack } from '../support/turning-stack.js';

const S = 'contextual-memory' as const;
const { SHADOW } = turnEdits(S);
const turning = useTurningStack(S, 'memshift-turns-contextual-');

const decide = async (d: string) => expect(await turning.agent.call({ action: 'record_decision', session_id: 'turning', decision: d })).toBe(true);
const decisions = async () =>
  ((await turning.agent.call({ action: 'get_context', session_id: 'turning' })) as { key_decisions: { decision: string }[] }).key_decisions.map(
    (k) => k.decision,
  );

it('reads every decision recorded after the rollback, and legacy gets them in order', async () => {
  const { sims, proxy } = turning.stack;
  await decide('d0');
  await proxy.runner.secondary.drain();
  await sims.applyFaults(S, { down: true });
  await decide('d1');
  await decide('d2');
  await turning.stack.setFlags(SHADOW, 'shadow');
  await sims.applyFaults(S, { down: false });
  // At once: before, served by legacy, which had d0 alone.
  expect(await decisions()).toEqual(['d0', 'd1', 'd2']);
  await decide('d3');
  await expect.poll(async () => (await proxy.runner.secondary.stats()).depth, { timeout: 60_000 }).toBe(0);
  // Served by legacy now: in the order recorded.
  expect(await decisions()).toEqual(['d0', 'd1', 'd2', 'd3']);
  expect(proxy.runner.stats.of(S).mismatches).toBe(0);
}, 90_000);
