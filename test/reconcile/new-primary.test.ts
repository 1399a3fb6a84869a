/**
 * A repair of legacy at new-primary, while agents write: their writes land on the orchestrator first and reach legacy
 * through the outbox, so what legacy holds of a key grows after the reconciliation read its file. The rewrite of each
 * key must start from legacy as it is under the key's hold: from the file as first read, it appended to a key that had
 * grown since, and legacy ended with other memories than the orchestrator's.
 */
import { expect, it } from 'vitest';
import { LegOrchestratorClient } from '../../src/services/orchestrator-client.js';
import { createTranslators } from '../support/translators.js';
import { send } from '../sim/helpers.js';
import { reconcileBesideAgents, useLiveStack } from '../support/live-stack.js';
import { reconcileService } from '../../src/reconcile/sides.js';

const SERVICE = 'jarvis-memory';
const USERS = 12;
const live = useLiveStack(
  SERVICE,
  async (sims) => {
    for (let u = 0; u < USERS; u++) await send(sims.endpoints[SERVICE], { action: 'add_memory', user_id: `p${u}`, memory: `old ${u}` });
  },
  'new-primary',
);

const memories = (reply: unknown) => (reply as { memories: { memory: unknown }[] }).memories.map((m) => m.memory);

it('repairs legacy from the orchestrator beside agents writing at new-primary: the missing write in its place, no live write lost or doubled', async () => {
  const t = createTranslators(new LegOrchestratorClient(live.leg), live.store.idMap)[SERVICE];
  // The history on the orchestrator too (as a backfill left it), then a write there that legacy never got.
  for (let u = 0; u < USERS; u++) {
    await t.handle({ action: 'add_memory', user_id: `p${u}`, memory: `old ${u}` }, { createMissing: true });
    await t.handle({ action: 'add_memory', user_id: `p${u}`, memory: `only new ${u}` }, { createMissing: true });
  }
  const { result, replies } = await reconcileBesideAgents(
    live,
    SERVICE,
    USERS,
    (u, n) => [{ action: 'add_memory', user_id: `p${u}`, memory: `live ${u}/${n}` }],
    { repair: true },
  );
  expect(replies.filter((r) => (r as { status?: string }).status !== 'ok')).toEqual([]);
  expect({ truth: result.run.truth, differing: result.run.differing, failed: result.run.repairFailed }).toEqual({ truth: 'new', differing: USERS, failed: 0 });
  for (let u = 0; u < USERS; u++) {
    const onNew = memories(await t.handle({ action: 'get_memories', user_id: `p${u}` }, { createMissing: false }));
    expect(onNew.slice(0, 2)).toEqual([`old ${u}`, `only new ${u}`]);
    expect(memories(await send(live.sims.endpoints[SERVICE], { action: 'get_memories', user_id: `p${u}` }))).toEqual(onNew);
  }
  // Legacy stamps what it is sent with its own clock: the memories rewritten are newer there, by the repair's delay.
  const after = await reconcileService(live.config, live.store, live.proxy.flags, SERVICE);
  expect(after.differences.flatMap((d) => d.diffs.filter((f) => f.kind !== 'timestamp'))).toEqual([]);
}, 120_000);
