/**
 * Both sides behind on contextual-memory (the kill switch pressed at complete): its legacy protocol cannot remove a
 * session's elements, so keeping the orchestrator's is refused, its gap kept; keeping legacy's at dual-write gives the
 * orchestrator's decision at complete up, kept in the file, and the orchestrator then answers as legacy does.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { flagName, KILL_SWITCH } from '../../src/flags/names.js';
import { reconcileService } from '../../src/reconcile/sides.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import type { Edits } from '../../src/flags/edit.js';
import { send } from '../sim/helpers.js';
import { configFor, startSims } from '../support/stack.js';
import { startFlaggedStack, type FlaggedStack } from '../support/flagged-stack.js';
import { ReqClient } from '../support/zmq-client.js';

const S = 'contextual-memory' as const;
const f = (kind: Parameters<typeof flagName>[1]) => flagName(S, kind);
const DUAL: Edits = { [f('dual-write')]: { enabled: true } };
const NEW_PRIMARY: Edits = { ...DUAL, [f('new-primary')]: { enabled: true } };
const COMPLETE: Edits = { ...NEW_PRIMARY, [f('legacy-off')]: { enabled: true } };

let stack: FlaggedStack<SimHandle>;
let agent: ReqClient;

beforeAll(async () => {
  stack = await startFlaggedStack({
    service: S,
    prefix: 'memshift-give-up-contextual-',
    flags: DUAL,
    sims: (storage) => startSims({ storage }),
    config: (on) => configFor(on.sims, on.url, { reconcile: { legacyDataDir: on.dir, orchestratorDatabaseUrl: on.url, recheckDelayMs: 300 } }),
  });
  agent = new ReqClient(stack.proxy.fronts[S]!, 5000);
}, 60_000);
afterAll(async () => {
  agent?.close();
  await stack?.close();
});

const decides = async (decision: string) => expect(await agent.call({ action: 'record_decision', session_id: 'c1', decision })).toBe(true);
const decisions = (reply: unknown) => ((reply as { key_decisions?: { decision: string }[] } | null)?.key_decisions ?? []).map((d) => d.decision);

it("refuses to keep the orchestrator's copy, then gives the orchestrator's missed decision up at dual-write, keeping it in the file", async () => {
  expect(await agent.call({ action: 'add_interaction', session_id: 'c1', type: 'user_query', content: 'hello' })).toBe(true);
  await decides('before');
  await stack.proxy.runner.secondary.drain();
  await stack.setFlags(COMPLETE, 'complete');
  const atComplete = Date.now();
  await decides('at complete');
  expect(await stack.gapAt('legacy')).toBeGreaterThanOrEqual(atComplete);
  await stack.setFlags({ ...COMPLETE, [KILL_SWITCH]: { enabled: true } }, 'killed');
  const killed = Date.now();
  await decides('under the kill switch');
  expect(await stack.gapAt('new')).toBeGreaterThanOrEqual(killed);

  // Keeping the orchestrator's would need legacy to drop its decision under the kill switch: no request does that.
  await stack.setFlags(NEW_PRIMARY, 'new-primary');
  const keepIn = join(stack.dir, 'given-up.jsonl');
  await expect(reconcileService(stack.config, stack.store, stack.flags, S, { repair: true, giveUpMissed: { keepIn } })).rejects.toThrow(
    /legacy service has no request that removes what a key holds.*--truth legacy at dual-write/,
  );
  expect(await stack.gapAt('new')).toBeGreaterThanOrEqual(killed);

  await stack.setFlags(DUAL, 'dual-write');
  const run = await reconcileService(stack.config, stack.store, stack.flags, S, { repair: true, giveUpMissed: { keepIn } });
  expect({ givenUp: run.givenUp?.side, remaining: run.remaining, closed: run.gap?.closed }).toEqual({ givenUp: 'legacy', remaining: 0, closed: true });
  const kept = readFileSync(keepIn, 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as unknown);
  expect(kept).toEqual([
    expect.objectContaining({
      side: 'new',
      key: 'c1',
      given_up: { decisions: [{ decision: 'at complete', timestamp: expect.anything() }] },
      requests: [{ action: 'record_decision', session_id: 'c1', decision: 'at complete' }],
    }),
  ]);
  // Served from the orchestrator now, as legacy answers.
  await stack.setFlags(NEW_PRIMARY, 'new-primary');
  const legacy = await send(stack.sims.endpoints[S], { action: 'get_context', session_id: 'c1' });
  expect(decisions(legacy)).toEqual(['before', 'under the kill switch']);
  expect(await agent.call({ action: 'get_context', session_id: 'c1' })).toEqual(legacy);
}, 90_000);
