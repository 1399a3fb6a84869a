/**
 * `memshift reconcile` as scripts use it (exit 1 while differences remain, 0 once repaired), the
 * scheduled runs inside the proxy, and the throttle.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChild } from '../../src/tools/bench/processes.js';
import type { Config } from '../../src/config.js';
import { openFlags, type Flags } from '../../src/flags/source.js';
import { RateLimiter } from '../../src/reconcile/pace.js';
import { listReconcileRuns } from '../../src/reconcile/runs.js';
import { startReconcileSchedule } from '../../src/reconcile/schedule.js';
import { createLeg } from '../../src/legs/index.js';
import type { Leg } from '../../src/legs/types.js';
import { LegOrchestratorClient } from '../../src/services/orchestrator-client.js';
import { createTranslators } from '../support/translators.js';
import { pyDumps } from '../../src/util/pyjson.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { openStore, type Store } from '../../src/store/index.js';
import { send } from '../sim/helpers.js';
import { freshDatabaseUrl } from '../support/database.js';
import { configFor, startSims } from '../support/stack.js';

const SERVICE = 'jarvis-memory';
let dir: string;
let url: string;
let store: Store;
let sims: SimHandle;
let leg: Leg;
let flags: Flags;
let config: Config;

function runCli(args: string[]): Promise<{ code: number | null; output: string }> {
  const sets = [
    `store.url=${url}`,
    `orchestrator.endpoint=${sims.endpoints.orchestrator}`,
    `services.${SERVICE}.legacy.endpoint=${sims.endpoints[SERVICE]}`,
    `reconcile.legacyDataDir=${dir}`,
    `reconcile.orchestratorDatabaseUrl=${url}`,
    'reconcile.recheckDelayMs=200',
  ];
  const child = startChild(['reconcile', '--service', SERVICE, ...args, ...sets.flatMap((s) => ['--set', s])]);
  return new Promise((resolve) => child.proc.once('exit', (code) => resolve({ code, output: child.output() })));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'memshift-reconcile-cli-'));
  url = await freshDatabaseUrl();
  store = await openStore({ url });
  sims = await startSims({ storage: { dataDir: dir, orchestratorDatabaseUrl: url, writeDelayMs: 10 } });
  leg = createLeg(sims.endpoints.orchestrator, { timeoutMs: 2000, breaker: { failureThreshold: 5, openMs: 500 } });
  const translator = createTranslators(new LegOrchestratorClient(leg), store.idMap)[SERVICE];
  for (let i = 0; i < 10; i++) {
    const request = { action: 'add_memory', user_id: `u${i}`, memory: { fact: i } };
    await send(sims.endpoints[SERVICE], request);
    await translator.handle(request, { createMissing: true });
  }
  // A dual write that never reached the orchestrator.
  await send(sims.endpoints[SERVICE], { action: 'add_memory', user_id: 'u4', memory: 'lost on the way' });
  await sims.flush();
  flags = await openFlags({ env: {} });
  config = configFor(sims, url, {
    reconcile: { legacyDataDir: dir, orchestratorDatabaseUrl: url, recheckDelayMs: 200, schedule: { enabled: true, everyMinutes: 60 } },
  });
}, 60_000);

afterAll(async () => {
  await flags?.close();
  await leg?.close();
  await sims?.close();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('memshift reconcile', () => {
  it('exits 1 while differences remain, names them; --repair fixes them and exits 0', async () => {
    const before = await runCli([]);
    expect(before.code, before.output).toBe(1);
    expect(before.output).toMatch(/differing\s+u4\s+\[memories\[1\]\]/);
    expect(before.output).toContain('1 difference(s) remain');
    expect(before.output).not.toContain('lost on the way');

    const repaired = await runCli(['--repair']);
    expect(repaired.code, repaired.output).toBe(0);
    expect(repaired.output).toMatch(/repaired 1, repair failed 0/);

    const runs = await listReconcileRuns(store.pool, { service: SERVICE });
    expect(runs.map((r) => [r.trigger, r.repair, r.differing, r.repaired])).toEqual([
      ['manual', true, 1, 1],
      ['manual', false, 1, 0],
    ]);
    const rebuilt = await createTranslators(new LegOrchestratorClient(leg), store.idMap)[SERVICE].handle(
      { action: 'get_memories', user_id: 'u4' },
      { createMissing: false },
    );
    expect(pyDumps((rebuilt as { memories: { memory: unknown }[] }).memories.map((m) => m.memory))).toBe('[{"fact": 4}, "lost on the way"]');
  }, 60_000);

  it('runs on schedule in the proxy, one run per period across replicas', async () => {
    const schedule = startReconcileSchedule(config, store, flags)!;
    const other = startReconcileSchedule(config, store, flags)!;
    try {
      await schedule.runOnce();
      await other.runOnce();
      const scheduled = (await listReconcileRuns(store.pool, { service: SERVICE })).filter((r) => r.trigger === 'scheduled');
      expect(scheduled).toHaveLength(1);
      expect(scheduled[0]).toMatchObject({ status: 'done', differing: 0, missingInNew: 0, missingInLegacy: 0, legacyRecords: 10, newRecords: 10 });
    } finally {
      await Promise.all([schedule.stop(), other.stop()]);
    }
    expect(startReconcileSchedule(configFor(sims, url), store, flags)).toBeUndefined();
  });

  it('runs on schedule in a fleet whose replicas each live less than the period: due by the last run stored, not by a start', async () => {
    // A 6 s period and replicas of 2 s each, one after another: none lives to see a period of its own.
    const quick = { ...config, reconcile: { ...config.reconcile, schedule: { ...config.reconcile.schedule, everyMinutes: 0.1 } } };
    const since = new Date();
    for (let i = 0; i < 8; i++) {
      const replica = startReconcileSchedule(quick, store, flags)!;
      await new Promise((r) => setTimeout(r, 2_000));
      await replica.stop();
    }
    const runs = (await listReconcileRuns(store.pool, { service: SERVICE, trigger: 'scheduled', from: since })).filter((r) => r.status === 'done');
    expect(runs.length).toBeGreaterThanOrEqual(2);
  }, 60_000);

  it('throttles to the configured rate', async () => {
    const limiter = new RateLimiter(1000);
    const started = performance.now();
    for (let i = 0; i < 5; i++) await limiter.take(60);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    const free = new RateLimiter(0);
    const t = performance.now();
    await free.take(1e9);
    expect(performance.now() - t).toBeLessThan(50);
  });
});
