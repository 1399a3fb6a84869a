/**
 * A repair of legacy at new-primary, while agents write: their writes land on the orchestrator first and reach legacy
 * through the outbox, so what legacy holds of a key grows after the reconciliation read its file. The rewrite of each
 * key must start from legacy as it is under the key's hold: from the file as first read, it appended to a key that had
 * grown since, and legacy ended with other memories than the orchestrator's. And while the legacy service comes and
 * goes, as the deployed JarvisMemoryAgent does (PROTOCOLS.md 1.3: it exits and its supervisor starts it again): every
 * key put right by the next run at the latest, none of its memories doubled; away for a few seconds, waited for.
 */
import { setTimeout as sleep } from 'node:timers/promises';
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

/** Users `prefix`0.. with their history on the orchestrator too (as a backfill left it), then a write there legacy never got. */
async function onlyNewWrites(prefix: string, users: number) {
  const t = createTranslators(new LegOrchestratorClient(live.leg), live.store.idMap)[SERVICE];
  for (let u = 0; u < users; u++) {
    await t.handle({ action: 'add_memory', user_id: `${prefix}${u}`, memory: `old ${u}` }, { createMissing: true });
    await t.handle({ action: 'add_memory', user_id: `${prefix}${u}`, memory: `only new ${u}` }, { createMissing: true });
  }
  return t;
}

it('repairs legacy from the orchestrator beside agents writing at new-primary: the missing write in its place, no live write lost or doubled', async () => {
  const t = await onlyNewWrites('p', USERS);
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
  // Legacy stamps what it is sent with its own clock (the memories rewritten are newer there, by the repair's delay):
  // at new-primary its copies are matched by content and place, so the stores compare alike, and a repair leaves them.
  const after = await reconcileService(live.config, live.store, live.proxy.flags, SERVICE, { repair: true });
  expect(after.differences).toEqual([]);
  for (let u = 0; u < USERS; u++)
    expect(memories(await send(live.sims.endpoints[SERVICE], { action: 'get_memories', user_id: `p${u}` }))).toEqual(
      memories(await t.handle({ action: 'get_memories', user_id: `p${u}` }, { createMissing: false })),
    );
}, 120_000);

/** Enough keys that the repair runs through several restarts. */
const RESTARTED_USERS = 120;

it('repairs legacy while it restarts every 600 ms: every key put right by the next run at the latest, nothing doubled', async () => {
  for (let u = 0; u < RESTARTED_USERS; u++) await send(live.sims.endpoints[SERVICE], { action: 'add_memory', user_id: `r${u}`, memory: `old ${u}` });
  const t = await onlyNewWrites('r', RESTARTED_USERS);
  let restarting = true;
  let restarts = 0;
  const comesAndGoes = (async () => {
    while (restarting) {
      await sleep(400);
      await live.sims.down(SERVICE);
      await sleep(200);
      await live.sims.up(SERVICE);
      restarts++;
    }
  })();
  let first;
  try {
    first = await reconcileService(live.config, live.store, live.proxy.flags, SERVICE, { repair: true });
  } finally {
    restarting = false;
    await comesAndGoes;
  }
  expect(restarts).toBeGreaterThanOrEqual(2);
  expect({ differing: first.run.differing, tried: first.run.repaired + first.run.repairFailed }).toEqual({
    differing: RESTARTED_USERS,
    tried: RESTARTED_USERS,
  });
  // What the first run could not confirm, the next one puts right; the keys it did are alike (legacy's later stamps
  // are when the copies reached it), so they are neither reported nor written again (a failed one may have landed).
  const second = await reconcileService(live.config, live.store, live.proxy.flags, SERVICE, { repair: true });
  expect(second.run.differing).toBeLessThanOrEqual(first.run.repairFailed);
  expect(second.run.repairFailed).toBe(0);
  for (let u = 0; u < RESTARTED_USERS; u++) {
    const onNew = memories(await t.handle({ action: 'get_memories', user_id: `r${u}` }, { createMissing: false }));
    expect(onNew).toEqual([`old ${u}`, `only new ${u}`]);
    expect(memories(await send(live.sims.endpoints[SERVICE], { action: 'get_memories', user_id: `r${u}` }))).toEqual(onNew);
  }
}, 180_000);

it('waits for a legacy service away for a few seconds: every key repaired in the one run, none counted failed', async () => {
  const users = 20;
  for (let u = 0; u < users; u++) await send(live.sims.endpoints[SERVICE], { action: 'add_memory', user_id: `w${u}`, memory: `old ${u}` });
  const t = await onlyNewWrites('w', users);
  await live.sims.down(SERVICE);
  let result;
  try {
    const run = reconcileService(live.config, live.store, live.proxy.flags, SERVICE, { repair: true });
    // Back well within the repair's waits for a side away (about 8 s a key).
    await sleep(3_000);
    await live.sims.up(SERVICE);
    result = await run;
  } finally {
    await live.sims.up(SERVICE);
  }
  expect({ differing: result.run.differing, repaired: result.run.repaired, failed: result.run.repairFailed }).toEqual({
    differing: users,
    repaired: users,
    failed: 0,
  });
  for (let u = 0; u < users; u++)
    expect(memories(await send(live.sims.endpoints[SERVICE], { action: 'get_memories', user_id: `w${u}` }))).toEqual(
      memories(await t.handle({ action: 'get_memories', user_id: `w${u}` }, { createMissing: false })),
    );
}, 120_000);
