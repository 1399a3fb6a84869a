/**
 * Both sides behind on contextual-memory (the kill switch pressed at complete): its legacy protocol cannot remove a
 * session's elements, so keeping the orchestrator's is refused, its gap kept; keeping legacy's at dual-write gives the
 * orchestrator's decision at complete up, kept in the file, and the orchestrator then answers as legacy does.
 */
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { reconcileService } from '../../src/reconcile/sides.js';
import { send } from '../sim/helpers.js';
import { keptLines, leaveBothBehind, stagesOf, useBothBehindStack } from '../support/both-behind.js';

const S = 'contextual-memory' as const;
const { DUAL, NEW_PRIMARY } = stagesOf(S);
const on = useBothBehindStack(S, 'memshift-give-up-contextual-');

const decides = async (decision: string) => expect(await on.agent().call({ action: 'record_decision', session_id: 'c1', decision })).toBe(true);
const decisions = (reply: unknown) => ((reply as { key_decisions?: { decision: string }[] } | null)?.key_decisions ?? []).map((d) => d.decision);

it("refuses to keep the orchestrator's copy, then gives the orchestrator's missed decision up at dual-write, keeping it in the file", async () => {
  const [stack, agent] = [on.stack(), on.agent()];
  expect(await agent.call({ action: 'add_interaction', session_id: 'c1', type: 'user_query', content: 'hello' })).toBe(true);
  await decides('before');
  await leaveBothBehind(
    stack,
    S,
    () => decides('at complete'),
    () => decides('under the kill switch'),
  );
  const killed = await stack.gapAt('new');

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
  expect(keptLines(keepIn)).toEqual([
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
