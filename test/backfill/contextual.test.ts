/**
 * contextual-memory backfilled beside live writes: sessions past the agent's 50 interactions (their snapshots
 * recomputed on each add) and with decisions, while each session's agent keeps adding interactions and decisions
 * through memshift. Afterwards the orchestrator holds what the legacy store holds, as the reconciler reads both.
 * Under load it failed without either of two fixes: a live decision on a session with none in the truth was wiped
 * (withNewer kept nothing of an empty list), and a just-landed interaction was wiped by a rewrite from a read the
 * orchestrator's write-behind had not reached (its lookup effect is neutral, so it was not waited for).
 */
import { expect, it } from 'vitest';
import { reconcileService } from '../../src/reconcile/sides.js';
import { send } from '../sim/helpers.js';
import { backfillBesideAgents, useLiveStack } from '../support/live-stack.js';

const SERVICE = 'contextual-memory';
const USERS = 12;
const live = useLiveStack(SERVICE, async (sims) => {
  for (let u = 0; u < USERS; u++) {
    for (let k = 0; k < 45 + u; k++)
      await send(sims.endpoints[SERVICE], {
        action: 'add_interaction',
        session_id: `c${u}`,
        type: k % 2 ? 'code' : 'user_query',
        content: `old ${u}/${k} http`,
      });
    if (u % 3 === 0) await send(sims.endpoints[SERVICE], { action: 'record_decision', session_id: `c${u}`, decision: `d${u}` });
  }
});

it('leaves both stores alike: interactions, snapshots and decisions, live ones included', async () => {
  const { result } = await backfillBesideAgents(live, SERVICE, USERS, (u, n) => [
    { action: 'add_interaction', session_id: `c${u}`, type: n % 2 ? 'code' : 'system_response', content: `live ${u}/${n}` },
    ...(n % 7 === 3 ? [{ action: 'record_decision', session_id: `c${u}`, decision: `live d${u}/${n}` }] : []),
  ]);
  expect(result.complete).toBe(true);
  expect(result.writes).toBeGreaterThan(0);
  const r = await reconcileService(live.config, live.store, live.proxy.flags, SERVICE, { truth: 'legacy' });
  expect(r.remaining, JSON.stringify(r.differences.slice(0, 3))).toBe(0);
}, 120_000);
