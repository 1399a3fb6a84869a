/**
 * Unknown outcomes against a simulator that hangs (takes requests in, answers none until resumed, then
 * works through them all): a write whose call timed out is looked up before anything else is sent for its
 * key, so it lands exactly once and in order, whichever side hung and whichever side was primary.
 */
import { afterEach, expect, it } from 'vitest';
import { startMigrationStack, type MigrationStack } from '../support/migration.js';
import { drained, JARVIS_DUAL_WRITE, JARVIS_NEW_PRIMARY, hung, memoriesOnBothSides, numberedMemories, writeMemories } from './unknown-support.js';

const JARVIS = 'jarvis-memory';

let stack: MigrationStack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

it('legacy primary, orchestrator hung: every write applied on new once and in order, agents unaffected; counted in metrics and report', async () => {
  const began = new Date();
  stack = await startMigrationStack(JARVIS_DUAL_WRITE, { report: { dir: '' } });
  const s = stack;
  // The user's orchestrator session exists: what hangs is the memory's create itself.
  const acked = await writeMemories(s, 'hang-a', 0, 1);
  await drained(s);
  acked.push(...(await hung(s, 'orchestrator', 6_000, () => writeMemories(s, 'hang-a', 1, 7))));
  acked.push(...(await writeMemories(s, 'hang-a', 8, 4)));
  await drained(s);

  expect(acked).toEqual([...Array(12).keys()]);
  const { legacy, fresh } = await memoriesOnBothSides(s, 'hang-a');
  expect(legacy).toEqual(numberedMemories('hang-a', acked));
  expect(fresh).toEqual(legacy);
  const t = s.proxy.runner.stats.of(JARVIS);
  // The first attempt timed out while the orchestrator held it; a look-up found it applied once it woke.
  expect(t.unknownOutcomes).toBeGreaterThanOrEqual(1);
  expect(t.resolvedApplied).toBeGreaterThanOrEqual(1);
  // Each UTC day's report counts that day's: a run across midnight (seen, one CI run) has its counts in two.
  const days = [...new Set([began, new Date()].map((d) => d.toISOString().slice(0, 10)))];
  const reports = await Promise.all(days.map((day) => s.proxy.reporter.write(day)));
  const unknowns = reports.map((r) => r.data.services.find((x) => x.service === JARVIS)!.unknowns);
  const total = (k: 'seen' | 'applied') => unknowns.reduce((n, u) => n + u[k], 0);
  expect({ seen: total('seen'), applied: total('applied') }).toEqual({ seen: t.unknownOutcomes, applied: t.resolvedApplied });
  expect(Math.max(...unknowns.map((u) => u.maxResolveMs ?? 0))).toBeGreaterThan(0);
  expect(reports.at(-1)!.markdown).toContain('| Unknown outcomes / settled / time to settle |');
  const scrape = await (await fetch(`${s.proxy.httpUrl}/metrics`)).text();
  expect(scrape).toMatch(/memshift_unknown_outcomes_total\{[^}]*service="jarvis-memory"[^}]*\} [1-9]/);
  expect(scrape).toMatch(/memshift_unknown_outcomes_resolved_total\{[^}]*result="applied"[^}]*\} [1-9]/);
}, 90_000);

it('new primary, legacy hung: the secondary side gets each write once and in order', async () => {
  stack = await startMigrationStack(JARVIS_NEW_PRIMARY);
  const s = stack;
  const acked = await hung(s, JARVIS, 6_000, () => writeMemories(s, 'hang-b', 0, 8));
  acked.push(...(await writeMemories(s, 'hang-b', 8, 4)));
  await drained(s);

  expect(acked).toEqual([...Array(12).keys()]);
  const { legacy, fresh } = await memoriesOnBothSides(s, 'hang-b');
  expect(fresh).toEqual(numberedMemories('hang-b', acked));
  expect(legacy).toEqual(fresh);
  expect(s.proxy.runner.stats.of(JARVIS).resolvedApplied).toBeGreaterThanOrEqual(1);
}, 90_000);

it('new primary, primary hung: a write the agent saw time out but the primary applied later reaches legacy too, once', async () => {
  stack = await startMigrationStack(JARVIS_NEW_PRIMARY);
  const s = stack;
  expect(await writeMemories(s, 'hang-c', 0, 1)).toEqual([0]);
  await drained(s);
  // The agent's write times out (memshift answers it with an error); the orchestrator applies it on waking.
  expect(await hung(s, 'orchestrator', 4_000, () => writeMemories(s, 'hang-c', 1, 1, 8_000))).toEqual([]);
  expect(await writeMemories(s, 'hang-c', 2, 3)).toEqual([2, 3, 4]);
  await drained(s);

  const { legacy, fresh } = await memoriesOnBothSides(s, 'hang-c');
  expect(fresh).toEqual(numberedMemories('hang-c', [0, 1, 2, 3, 4]));
  expect(legacy).toEqual(fresh);
  const t = s.proxy.runner.stats.of(JARVIS);
  expect(t.unknownOutcomes).toBeGreaterThanOrEqual(1);
  expect(t.resolvedApplied).toBeGreaterThanOrEqual(1);
}, 90_000);

it("legacy primary hung: a write the agent saw time out but legacy applied later reaches the orchestrator with legacy's own time", async () => {
  stack = await startMigrationStack(JARVIS_DUAL_WRITE);
  const s = stack;
  expect(await writeMemories(s, 'hang-d', 0, 1)).toEqual([0]);
  await drained(s);
  // Legacy takes the write in and applies it only on waking, seconds after memshift stored its intent.
  expect(await hung(s, JARVIS, 4_000, () => writeMemories(s, 'hang-d', 1, 1, 8_000))).toEqual([]);
  await drained(s);

  const times = async (reply: unknown) => (reply as { memories: { timestamp: number }[] }).memories.map((m) => Number(m.timestamp));
  const legacy = await times(s.readLegacy(JARVIS, { action: 'get_memories', user_id: 'hang-d' }));
  const fresh = await times(await s.readNew(JARVIS, { action: 'get_memories', user_id: 'hang-d' }));
  expect(fresh).toHaveLength(2);
  // Looked up on legacy, the write's record is copied with the time legacy gave it, not the intent's (4 s earlier).
  expect(Math.abs(fresh[1]! - legacy[1]!)).toBeLessThan(0.01);
  expect(s.proxy.runner.stats.of(JARVIS).resolvedApplied).toBeGreaterThanOrEqual(1);
}, 90_000);
