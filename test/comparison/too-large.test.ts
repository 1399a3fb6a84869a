/**
 * Replies too large to compare (shadow.maxCompareBytes): jarvis-memory's get_memories answers with every memory of the
 * user, megabytes for a long history, and comparing such a pair held every agent's request on the replica for a
 * quarter of a second (a 2.5 MB reply: 77-243 ms in one comparison, measured). A read over the bound is not compared,
 * counted as such (status, report, metrics), and its key and action are not shadowed for a while; smaller reads are
 * compared as before, a mutating read's pair too. Here the bound is 20 kB, one user's reply 50 kB, its orchestrator copy
 * altered.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { flagName } from '../../src/flags/names.js';
import { startProxy, type Proxy } from '../../src/proxy.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import type { Flags } from '../../src/flags/source.js';
import { TempFlags } from '../flags/helpers.js';
import { freshDatabaseUrl } from '../support/database.js';
import { configFor, startSims } from '../support/stack.js';
import { ReqClient } from '../support/zmq-client.js';

const S = 'jarvis-memory' as const;
const C = 'contextual-memory' as const;
const MAX = 20_000;
const TOKEN = 'too-large';

let sims: SimHandle;
let temp: TempFlags;
let flags: Flags;
let proxy: Proxy;
let agent: ReqClient;
let contextual: ReqClient;

beforeAll(async () => {
  sims = await startSims();
  temp = await TempFlags.create({
    [flagName(S, 'dual-write')]: { enabled: true },
    [flagName(S, 'shadow-read')]: { enabled: true, rollout: 100 },
    [flagName(C, 'dual-write')]: { enabled: true },
    [flagName(C, 'shadow-read')]: { enabled: true, rollout: 100 },
  });
  flags = await temp.open();
  proxy = await startProxy(configFor(sims, await freshDatabaseUrl(), { shadow: { maxCompareBytes: MAX }, report: { dir: '' }, admin: { token: TOKEN } }), {
    flags,
  });
  agent = new ReqClient(proxy.fronts[S]!, 10_000);
  contextual = new ReqClient(proxy.fronts[C]!, 10_000);
}, 60_000);
afterAll(async () => {
  agent?.close();
  contextual?.close();
  await proxy?.close();
  await proxy?.store.close();
  await temp?.dispose();
  await sims?.close();
});

/** Stores one memory for `user` on both sides (the orchestrator's altered when `altered`). */
async function remember(user: string, text: string, altered = false): Promise<void> {
  const request = { action: 'add_memory', user_id: user, memory: text };
  sims.models[S].handle(request);
  if (altered) await sims.applyFaults('orchestrator', { divergence: { rate: 1, mode: 'alter' } });
  await proxy.runner.translators[S]!.handle(request, { createMissing: true });
  if (altered) await sims.applyFaults('orchestrator', { divergence: { rate: 0 } });
}

/** How many get_memories the orchestrator answered through memshift (the new side's leg, from /metrics). */
async function newSideReads(): Promise<number> {
  const text = await (await fetch(`${proxy.httpUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => /^memshift_leg_duration_ms_count\{/.test(l) && l.includes(`action="get_memories"`) && l.includes('side="new"'));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

it('a reply over the bound is not compared, nor its key shadowed again; a smaller one is compared', async () => {
  for (let i = 0; i < 200; i++) await remember('heavy', `memory ${i} ${'x'.repeat(200)}`, i === 100);
  await remember('light', 'one memory');
  await remember('odd', 'only this one differs', true);

  const heavy = (await agent.call({ action: 'get_memories', user_id: 'heavy' })) as { memories: unknown[] };
  expect(heavy.memories).toHaveLength(200);
  expect(JSON.stringify(heavy).length).toBeGreaterThan(2 * MAX);
  // The first read of it is shadowed, found too large, and not compared.
  await expect.poll(() => proxy.runner.stats.of(S).tooLarge, { timeout: 10_000 }).toBe(1);
  const readsAfterFirst = await newSideReads();
  for (let i = 0; i < 4; i++) await agent.call({ action: 'get_memories', user_id: 'heavy' });
  for (let i = 0; i < 3; i++) await agent.call({ action: 'get_memories', user_id: 'light' });
  await agent.call({ action: 'get_memories', user_id: 'odd' });

  await expect.poll(() => proxy.runner.stats.of(S).compared, { timeout: 10_000 }).toBe(4);
  const stats = proxy.runner.stats.of(S);
  // Its later reads were not shadowed at all: the orchestrator was asked for the light ones only.
  expect(stats.tooLarge).toBe(5);
  expect(await newSideReads()).toBe(readsAfterFirst + 4);
  // The altered memory of the heavy user went uncompared; the small user's difference was found.
  expect(stats.mismatches).toBe(1);

  // The day's report says how many reads went uncompared, and why.
  await proxy.store.flush();
  const report = await proxy.reporter.write();
  const section = report.data.services.find((s) => s.service === S)!;
  expect(section.comparison.tooLarge).toBe(5);
  expect(report.markdown).toMatch(/\| Not compared \(reply too large\) \| 5 \(legacy's reply was over shadow\.maxCompareBytes/);
  const status = (await (await fetch(`${proxy.httpUrl}/admin/status`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as {
    services: Record<string, { comparisons: { tooLarge: number } }>;
  };
  expect(status.services[S]!.comparisons.tooLarge).toBe(5);
  expect(await (await fetch(`${proxy.httpUrl}/metrics`)).text()).toMatch(
    new RegExp(`^memshift_comparisons_too_large_total\\{[^}]*service="${S}"[^}]*\\} 5$`, 'm'),
  );
}, 60_000);

it('a read skipped for a write in flight, re-checked once the key settled, is not compared either when too large', async () => {
  for (let i = 0; i < 200; i++) await remember('heavy2', `memory ${i} ${'y'.repeat(200)}`);
  const before = { ...proxy.runner.stats.of(S) };
  // The orchestrator slow to take writes: the next write's copy is still on its way when the read comes.
  await sims.applyFaults('orchestrator', { latencyMs: 300 });
  try {
    await agent.call({ action: 'add_memory', user_id: 'heavy2', memory: 'one more' });
    await agent.call({ action: 'get_memories', user_id: 'heavy2' });
    await expect.poll(() => proxy.runner.stats.of(S).tooLarge, { timeout: 10_000 }).toBe(before.tooLarge + 1);
  } finally {
    await sims.applyFaults('orchestrator', { latencyMs: 0 });
  }
  const after = proxy.runner.stats.of(S);
  expect({ skipped: after.skipped, compared: after.compared, rechecked: after.rechecked }).toEqual({
    skipped: before.skipped + 1,
    compared: before.compared,
    rechecked: before.rechecked,
  });
}, 60_000);

it("a mutating read's pair (contextual get_context, compared once its copy landed) is not compared either when too large", async () => {
  // Decisions are kept for good: a long-lived session's snapshot grows with them.
  for (let i = 0; i < 150; i++) await contextual.call({ action: 'record_decision', session_id: 'decided', decision: `decision ${i} ${'z'.repeat(150)}` });
  await contextual.call({ action: 'record_decision', session_id: 'small', decision: 'just one' });
  await proxy.runner.secondary.drain();
  const before = { ...proxy.runner.stats.of(C) };
  const snapshot = (await contextual.call({ action: 'get_context', session_id: 'decided' })) as { key_decisions: unknown[] };
  expect(snapshot.key_decisions).toHaveLength(150);
  expect(JSON.stringify(snapshot).length).toBeGreaterThan(MAX);
  await contextual.call({ action: 'get_context', session_id: 'small' });
  await proxy.runner.secondary.drain();
  await expect.poll(() => proxy.runner.stats.of(C).compared, { timeout: 10_000 }).toBe(before.compared + 1);
  expect(proxy.runner.stats.of(C).tooLarge).toBe(before.tooLarge + 1);
}, 60_000);
