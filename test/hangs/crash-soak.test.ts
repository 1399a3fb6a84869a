/**
 * Acceptance, crash soak: 8 writers at about 300 writes/s over session-memory and jarvis-memory for 60 s,
 * memshift killed with SIGKILL every 10 s and restarted. After the drain the two sides hold exactly the same
 * writes, those memshift died before acknowledging included, none twice; `memshift reconcile` agrees.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startChild } from '../../src/bench/processes.js';
import type { SimHandle } from '../../src/sim/index.js';
import { freshDatabaseUrl } from '../support/database.js';
import { startSims } from '../support/stack.js';
import { expectSidesAgree, flagsWith, Load, MemshiftChild, openRows, sleep, stageFlags, waitUntil, WRITTEN } from './support.js';

let sims: SimHandle;
let flags: Awaited<ReturnType<typeof flagsWith>>;
let url: string;
let dir: string;
let memshift: MemshiftChild;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'memshift-soak-'));
  url = await freshDatabaseUrl();
  // Both sides persisted too (the legacy files, the orchestrator's tables), for the reconciler to read.
  sims = await startSims({ storage: { dataDir: dir, orchestratorDatabaseUrl: url, writeDelayMs: 50 } });
  flags = await flagsWith(stageFlags('dual-write'));
  memshift = await MemshiftChild.start(sims, { store: [`store.url=${url}`], flagsFile: flags.file });
}, 90_000);
afterAll(async () => {
  await memshift?.stop();
  await flags?.dispose();
  await sims?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function reconcile(service: string): Promise<{ code: number | null; output: string }> {
  const sets = [
    `store.url=${url}`,
    `orchestrator.endpoint=${sims.endpoints.orchestrator}`,
    `services.${service}.legacy.endpoint=${sims.endpoints[service as 'jarvis-memory']}`,
    `reconcile.legacyDataDir=${dir}`,
    `reconcile.orchestratorDatabaseUrl=${url}`,
    'reconcile.recheckDelayMs=200',
  ];
  const child = startChild(['reconcile', '--service', service, ...sets.flatMap((s) => ['--set', s])]);
  return new Promise((resolve) => child.proc.once('exit', (code) => resolve({ code, output: child.output() })));
}

it('holds exactly the same writes on both sides after five kill -9 restarts under load', async () => {
  const load = new Load({ prefix: 'soak', agents: { 'session-memory': 4, 'jarvis-memory': 4 }, intervalMs: 27, endpoint: (s) => memshift.fronts[s] });
  const started = Date.now();
  for (let k = 1; k <= 5; k++) {
    await sleep(Math.max(0, started + k * 10_000 - Date.now()));
    await memshift.kill();
    await memshift.restart();
  }
  await sleep(Math.max(0, started + 60_000 - Date.now()));
  await load.stop();
  await waitUntil(async () => (await openRows(url)) === 0, 120_000, 'outbox drained');

  expect(load.acked).toBeGreaterThan(5_000);
  expectSidesAgree(sims, load);
  await sims.flush();
  for (const service of WRITTEN) {
    const r = await reconcile(service);
    expect(r.code, `${service}: ${r.output}`).toBe(0);
  }
}, 300_000);
