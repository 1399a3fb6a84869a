/**
 * A reconciliation whose orchestrator database goes silent mid-run (a stopped server, a lost host: it answers
 * nothing and closes nothing): the run fails within reconcile.orchestratorStatementTimeoutMs saying so, recorded as
 * failed, the service's lock let go; the next run, with the database back, finds what differs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { openFlags, type Flags } from '../../src/flags/source.js';
import { reconcileService } from '../../src/reconcile/sides.js';
import { listReconcileRuns } from '../../src/reconcile/runs.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { generateSessionMemoryFixture } from '../../src/tools/bench/fixtures.js';
import { openStore, type Store } from '../../src/store/index.js';
import { freshDatabaseUrl } from '../support/database.js';
import { Relay } from '../support/relay.js';
import { configFor, startSims } from '../support/stack.js';

const SERVICE = 'session-memory';
let dir: string;
let store: Store;
let sims: SimHandle;
let flags: Flags;
let relay: Relay;
let config: Config;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'memshift-silent-'));
  const url = await freshDatabaseUrl();
  store = await openStore({ url });
  const db = new pg.Pool({ connectionString: url, max: 2 });
  const sqlitePath = join(dir, 'session_memory.db');
  try {
    await generateSessionMemoryFixture({ records: 2_000, differences: 5, sqlitePath, orchestrator: db, state: store.pool });
  } finally {
    await db.end();
  }
  sims = await startSims({ storage: { orchestratorDatabaseUrl: url } });
  const relayed = await Relay.before(url);
  relay = relayed.relay;
  config = configFor(sims, url, {
    // Paced so that the run is under way, its connections open, when the database goes silent.
    reconcile: {
      legacyFiles: { [SERVICE]: sqlitePath },
      orchestratorDatabaseUrl: relayed.url,
      orchestratorStatementTimeoutMs: 2_000,
      keysPerSecond: 1_000,
      recheckDelayMs: 100,
    },
  });
  flags = await openFlags({ env: {} });
}, 60_000);

afterAll(async () => {
  await flags?.close();
  await relay?.close();
  await sims?.close();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('fails the run, saying so, when the orchestrator database goes silent; the next run finds the differences', async () => {
  const run = reconcileService(config, store, flags, SERVICE);
  const outcome = run.then(
    () => 'finished',
    (err: Error) => err.message,
  );
  await new Promise((r) => setTimeout(r, 700));
  relay.freeze();
  // Without a bound the run waits as long as the silence lasts: for a lost host, for good.
  const settled = await Promise.race([outcome, new Promise((r) => setTimeout(r, 60_000, 'still waiting after 60 s'))]);
  relay.thaw();
  expect(settled).toMatch(/orchestrator database gave no answer within 2000 ms/);
  const [last] = await listReconcileRuns(store.pool, { service: SERVICE, limit: 1 });
  expect(last).toMatchObject({ status: 'failed', error: expect.stringMatching(/gave no answer within 2000 ms/) });

  const again = await reconcileService(config, store, flags, SERVICE);
  expect(again.differences).toHaveLength(5);
}, 120_000);
