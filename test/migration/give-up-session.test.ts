/**
 * Both sides behind on session-memory (the kill switch pressed at complete): giving up the orchestrator's missed
 * interactions at new-primary makes legacy's session like the orchestrator's, its kill-switch interaction dropped.
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

const S = 'session-memory' as const;
const f = (kind: Parameters<typeof flagName>[1]) => flagName(S, kind);
const DUAL: Edits = { [f('dual-write')]: { enabled: true } };
const NEW_PRIMARY: Edits = { ...DUAL, [f('new-primary')]: { enabled: true } };
const COMPLETE: Edits = { ...NEW_PRIMARY, [f('legacy-off')]: { enabled: true } };

let stack: FlaggedStack<SimHandle>;
let agent: ReqClient;

beforeAll(async () => {
  stack = await startFlaggedStack({
    service: S,
    prefix: 'memshift-give-up-session-',
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

const says = async (content: string) =>
  expect(await agent.call({ action: 'add_interaction', session_id: 's1', role: 'user', content })).toMatchObject({ status: 'success' });
const contents = (reply: unknown) => ((reply as { context: { content: string }[] | null }).context ?? []).map((i) => i.content);

it("gives the orchestrator's missed interactions up: legacy then holds what the orchestrator holds", async () => {
  expect(await agent.call({ action: 'create_session', session_id: 's1', user_id: 'ana' })).toMatchObject({ status: 'success' });
  await says('before');
  await stack.proxy.runner.secondary.drain();
  await stack.setFlags(COMPLETE, 'complete');
  const atComplete = Date.now();
  await says('at complete');
  expect(await stack.gapAt('legacy')).toBeGreaterThanOrEqual(atComplete);
  await stack.setFlags({ ...COMPLETE, [KILL_SWITCH]: { enabled: true } }, 'killed');
  const killed = Date.now();
  await says('under the kill switch');
  expect(await stack.gapAt('new')).toBeGreaterThanOrEqual(killed);

  await stack.setFlags(NEW_PRIMARY, 'new-primary');
  const legacyHolds = async () => contents(await send(stack.sims.endpoints[S], { action: 'get_context', session_id: 's1' }));
  expect(await legacyHolds()).toEqual(['before', 'under the kill switch']);
  const keepIn = join(stack.dir, 'given-up.jsonl');
  const run = await reconcileService(stack.config, stack.store, stack.flags, S, { repair: true, giveUpMissed: { keepIn } });
  expect({ givenUp: run.givenUp?.side, remaining: run.remaining, closed: run.gap?.closed }).toEqual({ givenUp: 'new', remaining: 0, closed: true });
  // What legacy lost is kept, with the request that would write it again; the session itself (its user) stays.
  const kept = readFileSync(keepIn, 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as unknown);
  expect(kept).toEqual([
    expect.objectContaining({
      side: 'legacy',
      key: 's1',
      given_up: { interactions: [{ role: 'user', content: 'under the kill switch', metadata: expect.anything(), timestamp: expect.anything() }] },
      requests: [expect.objectContaining({ action: 'add_interaction', session_id: 's1', role: 'user', content: 'under the kill switch' })],
    }),
  ]);
  expect(await legacyHolds()).toEqual(['before', 'at complete']);
  expect(contents(await agent.call({ action: 'get_context', session_id: 's1' }))).toEqual(['before', 'at complete']);
}, 90_000);
