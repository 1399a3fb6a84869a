/**
 * Both sides behind on session-memory (the kill switch pressed at complete): giving up the orchestrator's missed
 * interactions at new-primary makes legacy's session like the orchestrator's, its kill-switch interaction dropped.
 */
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { reconcileService } from '../../src/reconcile/sides.js';
import { send } from '../sim/helpers.js';
import { keptLines, leaveBothBehind, stagesOf, useBothBehindStack } from '../support/both-behind.js';

const S = 'session-memory' as const;
const { NEW_PRIMARY } = stagesOf(S);
const on = useBothBehindStack(S, 'memshift-give-up-session-');

const says = async (content: string) =>
  expect(await on.agent().call({ action: 'add_interaction', session_id: 's1', role: 'user', content })).toMatchObject({ status: 'success' });
const contents = (reply: unknown) => ((reply as { context: { content: string }[] | null }).context ?? []).map((i) => i.content);

it("gives the orchestrator's missed interactions up: legacy then holds what the orchestrator holds", async () => {
  const [stack, agent] = [on.stack(), on.agent()];
  expect(await agent.call({ action: 'create_session', session_id: 's1', user_id: 'ana' })).toMatchObject({ status: 'success' });
  await says('before');
  await leaveBothBehind(
    stack,
    S,
    () => says('at complete'),
    () => says('under the kill switch'),
  );

  await stack.setFlags(NEW_PRIMARY, 'new-primary');
  const legacyHolds = async () => contents(await send(stack.sims.endpoints[S], { action: 'get_context', session_id: 's1' }));
  expect(await legacyHolds()).toEqual(['before', 'under the kill switch']);
  const keepIn = join(stack.dir, 'given-up.jsonl');
  const run = await reconcileService(stack.config, stack.store, stack.flags, S, { repair: true, giveUpMissed: { keepIn } });
  expect({ givenUp: run.givenUp?.side, remaining: run.remaining, closed: run.gap?.closed }).toEqual({ givenUp: 'new', remaining: 0, closed: true });
  // What legacy lost is kept, with the request that would write it again; the session itself (its user) stays.
  expect(keptLines(keepIn)).toEqual([
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
