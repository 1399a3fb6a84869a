/**
 * A contextual session whose newest interactions and decision legacy alone holds, written a while before the run: at
 * new-primary, writes served first on legacy (a key kept there after a turn) whose copies were lost with their replica
 * (`npm run chaos` seed 84, one replica killed just after a store pause). The re-check took them for writes on their way
 * to the orchestrator, newer than its read, and reported the session in sync; only a key written lately may have such.
 * A repair says where they can go, and they go there; it counts only those elements, the code interactions both sides hold
 * (their metadata's keys in the agent's order on legacy, jsonb's on the orchestrator) not among them.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { expect, it } from 'vitest';
import { serviceSnapshot } from '../../src/flags/source.js';
import { LegOrchestratorClient } from '../../src/services/orchestrator-client.js';
import { createTranslators } from '../support/translators.js';
import { reconcileService } from '../../src/reconcile/sides.js';
import type { LegacyRequest } from '../../src/services/types.js';
import { useLiveStack } from '../support/live-stack.js';
import { ReqClient } from '../support/zmq-client.js';
import { send } from '../sim/helpers.js';

const SERVICE = 'contextual-memory';
const live = useLiveStack(SERVICE, async () => {}, 'new-primary');

const interaction = (session: string, content: string): LegacyRequest => ({ action: 'add_interaction', session_id: session, type: 'user_query', content });
/** A code interaction as agents send one: metadata of two keys, which jsonb keeps in another order than the agent's file (seed 343). */
const code = (session: string, content: string, n: number): LegacyRequest => ({
  action: 'add_interaction',
  session_id: session,
  type: 'code',
  content,
  metadata: { language: 'python', n },
});
const outboxOpen = async () => (await live.store.pool.query('SELECT 1 FROM outbox WHERE open')).rowCount;

it('reports a session whose newest writes legacy alone holds, written a while ago, as differing: not writes on their way', async () => {
  const agent = new ReqClient(live.proxy.fronts[SERVICE]!, 30_000);
  try {
    for (let n = 0; n < 5; n++) expect(await agent.call(code('lc', `lc #${n}`, n))).toBe(true);
  } finally {
    agent.close();
  }
  await expect.poll(outboxOpen, { timeout: 30_000 }).toBe(0);
  // Served on legacy first, their copies never stored: no outbox row of them.
  expect(await send(live.sims.endpoints[SERVICE], interaction('lc', 'lc #5'))).toBe(true);
  expect(await send(live.sims.endpoints[SERVICE], { action: 'record_decision', session_id: 'lc', decision: 'lc #6' })).toBe(true);
  // The session's stored writes, as the run finds them a minute on.
  await live.store.pool.query(`UPDATE outbox SET created_at = created_at - interval '1 minute' WHERE key = 'lc'`);
  await live.sims.flush();
  const run = await reconcileService(live.config, live.store, live.proxy.flags, SERVICE, {});
  expect(run.differences.map((d) => ({ key: d.key, paths: d.diffs.map((f) => `${f.path} ${f.kind}`) }))).toEqual([
    { key: 'lc', paths: ['snapshot type', 'interactions[5] missing_on_new', 'decisions[0] missing_on_new'] },
  ]);
  expect(run.run.converged).toBe(0);
  // A repair from the orchestrator keeps them, and says where they can go.
  const repaired = await reconcileService(live.config, live.store, live.proxy.flags, SERVICE, { repair: true });
  expect({ repaired: repaired.run.repaired, failed: repaired.run.repairFailed }).toEqual({ repaired: 0, failed: 1 });
  expect(repaired.differences[0]!.unrepaired).toMatch(
    /legacy holds 2 element\(s\) the orchestrator lacks, the key not written lately .*repair with truth legacy at a stage where legacy is written first$/,
  );
  expect(live.sims.models[SERVICE].sessions.get('lc')?.newestFirst.map((i) => i.content)[0]).toBe('lc #5');

  // As it says: back at dual-write, a repair with truth legacy gives them to the orchestrator.
  const file = live.config.flags.file!;
  const doc = JSON.parse(await readFile(file, 'utf8')) as { features: { name: string; enabled: boolean }[] };
  doc.features.find((f) => f.name === `memshift.${SERVICE}.new-primary`)!.enabled = false;
  await writeFile(file, JSON.stringify(doc));
  await expect.poll(() => serviceSnapshot(live.proxy.flags.snapshot(), SERVICE).stage, { timeout: 30_000 }).toBe('dual-write');
  const back = await reconcileService(live.config, live.store, live.proxy.flags, SERVICE, { repair: true, truth: 'legacy' });
  expect({ repaired: back.run.repaired, failed: back.run.repairFailed }).toEqual({ repaired: 1, failed: 0 });
  const t = createTranslators(new LegOrchestratorClient(live.leg), live.store.idMap)[SERVICE];
  const context = (await t.handle({ action: 'get_context', session_id: 'lc', max_tokens: 100_000 }, { createMissing: false })) as {
    key_decisions: { decision: string }[];
  };
  expect(context.key_decisions.map((d) => d.decision)).toEqual(['lc #6']);
  const o = live.sims.models.orchestrator;
  const ids = new Set([...o.sessions.values()].filter((x) => x.metadata.legacy_session_id === 'lc').map((x) => x.session_id));
  const texts = [...o.memories.values()].filter((m) => ids.has(m.session_id) && m.is_active && m.memory_type === 'context').map((m) => String(m.content.text));
  // Its interactions and its decision (held as a memory too).
  expect(texts).toEqual([0, 1, 2, 3, 4, 5, 6].map((n) => `lc #${n}`));
  expect((await reconcileService(live.config, live.store, live.proxy.flags, SERVICE, {})).differences).toEqual([]);
}, 120_000);
