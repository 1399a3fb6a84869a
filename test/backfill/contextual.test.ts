/**
 * contextual-memory backfilled beside live writes: sessions past the agent's 50 interactions (their snapshots
 * recomputed on each add) and with decisions, while each session's agent keeps adding interactions and decisions
 * through memshift. Afterwards the orchestrator holds what the legacy store holds, as the reconciler reads both.
 * Under load it failed without either of two fixes: a live decision on a session with none in the truth was wiped
 * (withNewer kept nothing of an empty list), and a just-landed interaction was wiped by a rewrite from a read the
 * orchestrator's write-behind had not reached (its lookup effect is neutral, so it was not waited for).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { reconcileService } from '../../src/reconcile/sides.js';
import { send } from '../sim/helpers.js';
import { SIM_FILES } from '../../src/tools/sim/services.js';
import { backfillBesideAgents, reconcileBesideAgents, useLiveStack } from '../support/live-stack.js';

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

/**
 * For a failure's message: how `keys` stand once the agents stopped (a compare run again, still differing or not), and
 * what each side holds of them: legacy's file (its newest interactions, its snapshot's counts), the orchestrator's rows.
 */
async function describeKeys(keys: string[]): Promise<string> {
  const again = await reconcileService(live.config, live.store, live.proxy.flags, SERVICE, { truth: 'legacy' });
  const file = JSON.parse(readFileSync(join(live.dir, SIM_FILES[SERVICE]), 'utf8')) as {
    sessions: Record<string, { content: string; timestamp: unknown }[]>;
    summaries: Record<string, Record<string, unknown>>;
  };
  const sides = await Promise.all(
    keys.map(async (key) => {
      // The session's newest memories, and every snapshot (agent_state) memory with its last update.
      const { rows } = await live.store.pool.query(
        `SELECT m.memory_type AS t, m.is_active AS a, m.created_at AS c, m.updated_at AS u, m.content->'metadata'->'timestamp' AS at,
           left(coalesce(m.content->'metadata'->'snapshot'->>'code_context', m.content->>'text'), 50) AS text
         FROM sessions s JOIN memory_entries m USING (session_id) WHERE s.metadata->>'legacy_session_id' = $1
         ORDER BY m.memory_type = 'agent_state' DESC, m.created_at DESC LIMIT 6`,
        [key],
      );
      const legacy = (file.sessions[key] ?? []).slice(0, 3).map((i) => [i.content, i.timestamp]);
      return { key, legacy, summary: String(file.summaries[key]?.code_context).slice(0, 50), orchestrator: rows };
    }),
  );
  return JSON.stringify({ againDiffering: again.differences.map((d) => d.key), sides });
}

/** Agent `u`'s `n`-th round: an interaction, now and then a decision. */
const liveRound = (label: string) => (u: number, n: number) => [
  { action: 'add_interaction', session_id: `c${u}`, type: n % 2 ? 'code' : 'system_response', content: `${label} ${u}/${n}` },
  ...(n % 7 === 3 ? [{ action: 'record_decision', session_id: `c${u}`, decision: `${label} d${u}/${n}` }] : []),
];

it('leaves both stores alike: interactions, snapshots and decisions, live ones included', async () => {
  const { result } = await backfillBesideAgents(live, SERVICE, USERS, liveRound('live'));
  expect(result.complete).toBe(true);
  expect(result.writes).toBeGreaterThan(0);
  const r = await reconcileService(live.config, live.store, live.proxy.flags, SERVICE, { truth: 'legacy' });
  expect(r.remaining, JSON.stringify(r.differences.slice(0, 3))).toBe(0);
}, 120_000);

it('compares sessions alike while their agents write: each write on its way to the orchestrator waited for, not reported', async () => {
  const held = ['c0', 'c1', 'c2'];
  const { result } = await reconcileBesideAgents(live, SERVICE, USERS, liveRound('compared'), { held });
  const differing = result.differences.map((d) => d.key);
  const detail = differing.length ? await describeKeys(differing.slice(0, 3)) : '';
  expect(result.remaining, `${JSON.stringify(result.differences.slice(0, 2))}; ${detail}`).toBe(0);
  // The held sessions differed as first compared (their writes on their way): the re-check judged them alike.
  expect(result.run.converged).toBeGreaterThanOrEqual(held.length);
}, 120_000);

it('counts the sessions a repair beside their agents put right: each of them, and nothing left', async () => {
  // A decision that reached legacy only (sent to it directly), in every session: kept there whatever the agents write
  // after it (an interaction would leave the agent's window of 50 under a slow run).
  for (let u = 0; u < USERS; u++) await send(live.sims.endpoints[SERVICE], { action: 'record_decision', session_id: `c${u}`, decision: `unseen ${u}` });
  const { result } = await reconcileBesideAgents(live, SERVICE, USERS, liveRound('repaired'), { repair: true });
  expect(result.run.differing).toBe(USERS);
  expect(
    { repaired: result.run.repaired, failed: result.run.repairFailed, remaining: result.remaining },
    JSON.stringify(result.differences.filter((d) => !d.repaired).slice(0, 2)),
  ).toEqual({ repaired: USERS, failed: 0, remaining: 0 });
  const after = await reconcileService(live.config, live.store, live.proxy.flags, SERVICE, { truth: 'legacy' });
  expect(after.remaining, JSON.stringify(after.differences.slice(0, 2))).toBe(0);
}, 120_000);
