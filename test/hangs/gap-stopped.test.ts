/**
 * A write served to legacy alone (off, after a later stage) while the legacy service's process is stopped (SIGSTOP)
 * past the heartbeat timeout: the agent sees it fail, and a repair run while the process is still stopped finds the
 * sides alike and closes the orchestrator's gap. Once the process runs again it applies the write it held, with no
 * agent sending anything more: memshift's leg learns it (its health checks, answered after the held write), the gap is
 * stored again, stamped after the resume, and the next repair copies the write.
 */
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import type { Edits } from '../../src/flags/edit.js';
import { flagName } from '../../src/flags/names.js';
import { reconcileService } from '../../src/reconcile/sides.js';
import { configFor } from '../support/stack.js';
import { startFlaggedStack, type FlaggedStack } from '../support/flagged-stack.js';
import { requestOnce } from '../support/zmq-client.js';
import { SimProcess } from './sim-process.js';

const S = 'jarvis-memory' as const;
const DUAL_WRITE: Edits = { [flagName(S, 'dual-write')]: { enabled: true } };

let stack: FlaggedStack<SimProcess>;

beforeAll(async () => {
  stack = await startFlaggedStack({
    service: S,
    prefix: 'memshift-gap-stopped-',
    flags: DUAL_WRITE,
    sims: (storage) => SimProcess.start(storage),
    config: ({ sims, url, dir }) =>
      configFor(sims, url, {
        services: { [S]: { legacy: { endpoint: sims.endpoints[S], timeoutMs: 500, heartbeatTimeoutMs: 1_000 } } },
        reconcile: { legacyDataDir: dir, orchestratorDatabaseUrl: url, recheckDelayMs: 300 },
      }),
  });
}, 60_000);
afterAll(() => stack?.close());

const agent = async (request: unknown) => JSON.parse((await requestOnce(stack.proxy.fronts[S]!, request, 10_000)).toString()) as { status: string };
const setFlags = (edits: Edits, stage: string) => stack.setFlags(edits, stage);
/** The orchestrator's gap as stored, after the proxy's flush: its last missed write's time, or 0 when there is none. */
const gapSince = () => stack.gapAt('new');
const repair = async () => {
  const r = await reconcileService(stack.config, stack.store, stack.flags, S, { repair: true });
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

  await stack.sims.stopped(true);
  expect(await agent({ action: 'add_memory', user_id: 'g1', memory: 'held by a stopped legacy' })).toMatchObject({ status: 'error' });
  // Past the heartbeat timeout memshift gives the connection up; the process still holds the write.
  await new Promise((r) => setTimeout(r, 2_500));
  expect(await gapSince()).toBeGreaterThan(0);
  await setFlags(DUAL_WRITE, 'dual-write');
  // The write has not landed: the sides are alike, and the run closes the gap.
  expect(await repair()).toEqual({ remaining: 0, repaired: 0, closed: true });

  const resumed = Date.now();
  await stack.sims.stopped(false);
  // Nothing more is sent by any agent: the gap comes back as the resumed process applies the write.
  await vi.waitFor(async () => expect(await gapSince()).toBeGreaterThanOrEqual(resumed), { timeout: 15_000, interval: 200 });
  expect(await repair()).toEqual({ remaining: 0, repaired: 1, closed: true });
}, 90_000);
