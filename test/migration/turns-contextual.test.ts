/**
 * A turn back from new-primary with ContextualMemoryAgent restarting (turned.ts), for its mutating read: get_context,
 * carried as a write, is moved to the orchestrator with the key's decisions still queued towards legacy, so the agent
 * reads every decision it recorded, and legacy gets them in order once it answers.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { flagName } from '../../src/flags/names.js';
import type { Edits } from '../../src/flags/edit.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { configFor, startSims } from '../support/stack.js';
import { startFlaggedStack, type FlaggedStack } from '../support/flagged-stack.js';
import { ReqClient } from '../support/zmq-client.js';

const S = 'contextual-memory' as const;
const f = (kind: Parameters<typeof flagName>[1]) => flagName(S, kind);
const SHADOW: Edits = { [f('dual-write')]: { enabled: true }, [f('new-primary')]: { enabled: false }, [f('shadow-read')]: { enabled: true, rollout: 100 } };
const NEW_PRIMARY: Edits = { ...SHADOW, [f('new-primary')]: { enabled: true } };

let stack: FlaggedStack<SimHandle>;
let agent: ReqClient;
beforeAll(async () => {
  stack = await startFlaggedStack({
    service: S,
    prefix: 'memshift-turns-contextual-',
    flags: NEW_PRIMARY,
    sims: (storage) => startSims({ storage }),
    config: (on) => configFor(on.sims, on.url, { report: { dir: '' }, guard: { enabled: false } }),
  });
  agent = new ReqClient(stack.proxy.fronts[S]!, 10_000);
}, 60_000);
afterAll(async () => {
  agent?.close();
  await stack?.close();
});

const decide = async (d: string) => expect(await agent.call({ action: 'record_decision', session_id: 'turning', decision: d })).toBe(true);
const decisions = async () =>
  ((await agent.call({ action: 'get_context', session_id: 'turning' })) as { key_decisions: { decision: string }[] }).key_decisions.map((k) => k.decision);

it('reads every decision recorded after the rollback, and legacy gets them in order', async () => {
  const { sims, proxy } = stack;
  await decide('d0');
  await proxy.runner.secondary.drain();
  await sims.applyFaults(S, { down: true });
  await decide('d1');
  await decide('d2');
  await stack.setFlags(SHADOW, 'shadow');
  await sims.applyFaults(S, { down: false });
  // At once: before, served by legacy, which had d0 alone.
  expect(await decisions()).toEqual(['d0', 'd1', 'd2']);
  await decide('d3');
  await expect.poll(async () => (await proxy.runner.secondary.stats()).depth, { timeout: 60_000 }).toBe(0);
  // Served by legacy now: in the order recorded.
  expect(await decisions()).toEqual(['d0', 'd1', 'd2', 'd3']);
  expect(proxy.runner.stats.of(S).mismatches).toBe(0);
}, 90_000);
