/**
 * A write served to legacy alone (off, after a later stage) while the legacy service's process is stopped (SIGSTOP)
 * past the heartbeat timeout: the agent sees it fail, and a repair run while the process is still stopped finds the
 * sides alike and closes the orchestrator's gap. Once the process runs again it applies the write it held, with no
 * agent sending anything more: memshift's leg learns it (its health checks, answered after the held write), the gap is
 * stored again, stamped after the resume, and the next repair copies the write.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import type { Config } from '../../src/config.js';
import type { Edits } from '../../src/flags/edit.js';
import { flagName } from '../../src/flags/names.js';
import { serviceSnapshot, type Flags } from '../../src/flags/source.js';
import { startProxy, type Proxy } from '../../src/proxy.js';
import { reconcileService } from '../../src/reconcile/sides.js';
import { openStore, type Store } from '../../src/store/index.js';
import { TempFlags } from '../flags/helpers.js';
import { freshDatabaseUrl } from '../support/database.js';
import { configFor } from '../support/stack.js';
import { requestOnce } from '../support/zmq-client.js';
import { SimProcess } from './sim-process.js';

const S = 'jarvis-memory' as const;
const DUAL_WRITE: Edits = { [flagName(S, 'dual-write')]: { enabled: true } };

let dir: string;
let sims: SimProcess;
let temp: TempFlags;
let flags: Flags;
let config: Config;
let proxy: Proxy;
/** The test's own view of the state store, as another replica's. */
let store: Store;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'memshift-gap-stopped-'));
  const url = await freshDatabaseUrl();
  sims = await SimProcess.start({ dataDir: dir, orchestratorDatabaseUrl: url, writeDelayMs: 10 });
  temp = await TempFlags.create(DUAL_WRITE);
  flags = await temp.open({ pollIntervalMs: 100 });
  config = configFor(sims, url, {
    services: { [S]: { legacy: { endpoint: sims.endpoints[S], timeoutMs: 500, heartbeatTimeoutMs: 1_000 } } },
    reconcile: { legacyDataDir: dir, orchestratorDatabaseUrl: url, recheckDelayMs: 300 },
  });
  proxy = await startProxy(config, { flags });
  store = await openStore({ url });
}, 60_000);
afterAll(async () => {
  await proxy?.close();
  await proxy?.store.close();
  await store?.close();
  await sims?.close();
  await temp?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const agent = async (request: unknown) => JSON.parse((await requestOnce(proxy.fronts[S]!, request, 10_000)).toString()) as { status: string };
const setFlags = async (edits: Edits, stage: string) => {
  await temp.write(edits);
  await vi.waitFor(() => expect(serviceSnapshot(flags.snapshot(), S).stage).toBe(stage), { timeout: 10_000, interval: 100 });
};
/** The orchestrator's gap as stored, after the proxy's flush: its last missed write's time, or 0 when there is none. */
const gapSince = async () => {
  await proxy.store.gaps.flush();
  await store.gaps.read();
  return store.gaps.of(S, 'new')?.lastAt.getTime() ?? 0;
};
const repair = async () => {
  const r = await reconcileService(config, store, flags, S, { repair: true });
  return { remaining: r.remaining, repaired: r.run.repaired, closed: r.gap?.closed };
};

it('records the gap again once a stopped legacy process applies the write it held, though a repair closed it meanwhile', async () => {
  // Past off once: writes at off again leave the orchestrator behind.
  expect(await agent({ action: 'add_memory', user_id: 'g0', memory: 'both sides' })).toMatchObject({ status: 'ok' });
  await setFlags({}, 'off');
  expect(await agent({ action: 'add_memory', user_id: 'g0', memory: 'legacy alone' })).toMatchObject({ status: 'ok' });
  // Stored before the repair begins (a run closes only a gap whose last write it began after).
  expect(await gapSince()).toBeGreaterThan(0);
  await setFlags(DUAL_WRITE, 'dual-write');
  expect(await repair()).toEqual({ remaining: 0, repaired: 1, closed: true });
  await setFlags({}, 'off');

  await sims.stopped(true);
  expect(await agent({ action: 'add_memory', user_id: 'g1', memory: 'held by a stopped legacy' })).toMatchObject({ status: 'error' });
  // Past the heartbeat timeout memshift gives the connection up; the process still holds the write.
  await new Promise((r) => setTimeout(r, 2_500));
  expect(await gapSince()).toBeGreaterThan(0);
  await setFlags(DUAL_WRITE, 'dual-write');
  // The write has not landed: the sides are alike, and the run closes the gap.
  expect(await repair()).toEqual({ remaining: 0, repaired: 0, closed: true });

  const resumed = Date.now();
  await sims.stopped(false);
  // Nothing more is sent by any agent: the gap comes back as the resumed process applies the write.
  await vi.waitFor(async () => expect(await gapSince()).toBeGreaterThanOrEqual(resumed), { timeout: 15_000, interval: 200 });
  expect(await repair()).toEqual({ remaining: 0, repaired: 1, closed: true });
}, 90_000);
