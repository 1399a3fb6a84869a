/**
 * session-memory backfilled beside live writes: an agent's write through memshift to a session from before the
 * migration makes the orchestrator's copy of it (user "default", no metadata), so the backfill deletes that session and
 * makes it again under a new id. The proxy cached the old id; it must write the key's next live writes to the new one
 * (the id map announces deletes to every process), else they land in the ended session and the copy lacks them.
 * A repair makes such sessions again the same way.
 */
import { expect, it } from 'vitest';
import { LegOrchestratorClient } from '../../src/services/orchestrator-client.js';
import { createTranslators } from '../support/translators.js';
import { send } from '../sim/helpers.js';
import { runBackfill } from '../support/backfill.js';
import { backfillBesideAgents, besideAgents, reconcileBesideAgents, useLiveStack } from '../support/live-stack.js';
import { reconcileService } from '../../src/reconcile/sides.js';

const SERVICE = 'session-memory';
const USERS = 16;
const live = useLiveStack(SERVICE, async (sims) => {
  for (let u = 0; u < USERS; u++) {
    await send(sims.endpoints[SERVICE], { action: 'create_session', session_id: `s${u}`, user_id: `user${u}`, metadata: { n: u } });
    for (let k = 0; k < 8; k++) await send(sims.endpoints[SERVICE], { action: 'add_interaction', session_id: `s${u}`, role: 'user', content: `old ${u}/${k}` });
  }
});

it('writes the live writes of a session the backfill made again to its new orchestrator session, after the history', async () => {
  const { result, replies } = await backfillBesideAgents(live, SERVICE, USERS, (u, n) => [
    { action: 'add_interaction', session_id: `s${u}`, role: 'assistant', content: `live ${u}/${n}` },
  ]);
  expect(replies.filter((r) => (r as { status?: string }).status !== 'success')).toEqual([]);
  expect(result.complete).toBe(true);
  const t = createTranslators(new LegOrchestratorClient(live.leg), live.store.idMap)[SERVICE];
  for (let u = 0; u < USERS; u++) {
    const legacy = (
      (await send(live.sims.endpoints[SERVICE], { action: 'get_context', session_id: `s${u}`, max_tokens: 100000 })) as { context: { content: string }[] }
    ).context.map((c) => c.content);
    const fresh = async () =>
      (
        (await t.handle({ action: 'get_context', session_id: `s${u}`, max_tokens: 100000 }, { createMissing: false })) as { context: { content: string }[] }
      ).context.map((c) => c.content);
    await expect.poll(fresh, { timeout: 10_000 }).toEqual(legacy);
  }
  // The sessions were made again (the live writes' copy had another user), not appended to.
  const { rows } = await live.store.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM sessions WHERE ended_at IS NOT NULL`);
  expect(rows[0]!.n).toBeGreaterThanOrEqual(USERS);
  expect((await runBackfill(live.config, live.store, SERVICE, { batchSize: 5, concurrency: 4 })).writes).toBe(0);
}, 120_000);

it('compares sessions alike while their agents write: each write on its way to the orchestrator waited for, not reported', async () => {
  const held = ['s0', 's1', 's2'];
  const { result } = await reconcileBesideAgents(
    live,
    SERVICE,
    USERS,
    (u, n) => [{ action: 'add_interaction', session_id: `s${u}`, role: 'user', content: `compared ${u}/${n}` }],
    { held },
  );
  expect(result.remaining, JSON.stringify(result.differences.slice(0, 2))).toBe(0);
  expect(result.run.converged).toBeGreaterThanOrEqual(held.length);
}, 120_000);

it('repairs sessions that live writes alone made on the orchestrator: made again, the live writes after in them', async () => {
  // Sessions the backfill never saw: their agents' writes through memshift make them on the orchestrator with user
  // "default", and a repair deletes and makes each again while the agents go on writing.
  for (let u = 0; u < USERS; u++) {
    await send(live.sims.endpoints[SERVICE], { action: 'create_session', session_id: `r${u}`, user_id: `user${u}`, metadata: { r: u } });
    await send(live.sims.endpoints[SERVICE], { action: 'add_interaction', session_id: `r${u}`, role: 'user', content: `old r${u}` });
  }
  const { result } = await besideAgents(
    live,
    SERVICE,
    USERS,
    (u, n) => [{ action: 'add_interaction', session_id: `r${u}`, role: 'assistant', content: `live r${u}/${n}` }],
    () => reconcileService(live.config, live.store, live.proxy.flags, SERVICE, { repair: true }),
  );
  expect(result.run.differing).toBeGreaterThanOrEqual(USERS);
  // Each session put right is counted so, though its agent kept writing while it was checked.
  expect({ repaired: result.run.repaired, failed: result.run.repairFailed, remaining: result.remaining }).toEqual({
    repaired: result.run.differing,
    failed: 0,
    remaining: 0,
  });
  const after = await reconcileService(live.config, live.store, live.proxy.flags, SERVICE, { truth: 'legacy' });
  expect(after.remaining, JSON.stringify(after.differences.slice(0, 2))).toBe(0);
}, 120_000);
