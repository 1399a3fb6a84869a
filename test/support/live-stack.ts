/**
 * For one test file: the simulators storing to disk and to PostgreSQL, a history seeded on the legacy side only, the
 * service at dual-write behind a proxy, and a leg to the orchestrator: agents keep writing while a backfill or repair
 * runs, as the runbook has it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect } from 'vitest';
import type { BackfillResult } from '../../src/backfill/backfill.js';
import type { LegacyRequest } from '../../src/services/types.js';
import { runBackfill } from './backfill.js';
import { reconcileService } from '../../src/reconcile/sides.js';
import type { ReconcileResult } from '../../src/reconcile/reconcile.js';
import { ReqClient } from './zmq-client.js';
import { KeyHolds } from '../../src/outbox/hold.js';
import type { Config } from '../../src/config.js';
import { createLeg } from '../../src/legs/index.js';
import type { Leg } from '../../src/legs/types.js';
import { startProxy, type Proxy } from '../../src/proxy.js';
import type { ServiceName } from '../../src/services/registry.js';
import { openStore, type Store } from '../../src/store/index.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { flagsOn } from '../outbox/support.js';
import { freshDatabaseUrl } from './database.js';
import { configFor, startSims } from './stack.js';

export interface LiveStack {
  /** The legacy services' data directory (the backfill reads their stores there). */
  dir: string;
  url: string;
  store: Store;
  sims: SimHandle;
  proxy: Proxy;
  config: Config;
  /** To the orchestrator simulator, for reading what it holds through a translator. */
  leg: Leg;
}

/**
 * Filled in before the file's tests; `seed` writes the history to the legacy simulators (flushed to disk after). The
 * service at dual-write, with the `more` flags of its stages on too (new-primary).
 */
export function useLiveStack(service: ServiceName, seed: (sims: SimHandle) => Promise<void>, ...more: string[]): LiveStack {
  const live = {} as LiveStack;
  let disposeFlags: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    live.dir = mkdtempSync(join(tmpdir(), `memshift-live-${service}-`));
    live.url = await freshDatabaseUrl();
    live.store = await openStore({ url: live.url });
    live.sims = await startSims({ storage: { dataDir: live.dir, orchestratorDatabaseUrl: live.url, writeDelayMs: 10 } });
    await seed(live.sims);
    await live.sims.flush();
    const flags = await flagsOn(service, 'dual-write', ...more);
    disposeFlags = flags.dispose;
    const reconcile = { legacyDataDir: live.dir, orchestratorDatabaseUrl: live.url, recheckDelayMs: 300 };
    live.config = configFor(live.sims, live.url, { flags: { file: flags.file }, reconcile });
    live.proxy = await startProxy(live.config);
    live.leg = createLeg(live.sims.endpoints.orchestrator, { timeoutMs: 5000, breaker: { failureThreshold: 5, openMs: 500 } });
  }, 60_000);
  afterAll(async () => {
    await live.leg?.close();
    await live.proxy?.close();
    await live.sims?.close();
    await live.store?.close();
    await disposeFlags?.();
    if (live.dir) rmSync(live.dir, { recursive: true, force: true });
  });
  return live;
}

/**
 * `work` (a backfill, a repair) while `agents` agents write through memshift, agent `a`'s `n`-th round being the
 * requests `round(a, n)`, one every 250 ms; ends once every write landed on both sides (the outbox empty, the stores
 * flushed). Resolves with what `work` resolved with and every reply the agents got.
 */
export async function besideAgents<T>(
  live: LiveStack,
  service: ServiceName,
  agents: number,
  round: (a: number, n: number) => LegacyRequest[],
  work: () => Promise<T>,
): Promise<{ result: T; replies: unknown[] }> {
  let stopping = false;
  const replies: unknown[] = [];
  const writing = Array.from({ length: agents }, async (_, a) => {
    // Generous: the simulators share this process with memshift, and their synchronous rewrites of a legacy store (as
    // the agents' own) hold its event loop while a busy machine's disk writes back (300 kB took 2 s here beside a
    // 6 GB write); one agent's call met its 5 s in a clean-clone run.
    const client = new ReqClient(live.proxy.fronts[service]!, 30_000);
    try {
      for (let n = 0; !stopping; n++) {
        for (const request of round(a, n)) {
          const sent = Date.now();
          replies.push(
            await client.call(request).catch((err: unknown) => {
              throw new Error(`agent ${a}: ${JSON.stringify(request)} failed after ${Date.now() - sent} ms`, { cause: err });
            }),
          );
        }
        await sleep(250);
      }
    } finally {
      client.close();
    }
  });
  // Every agent has live writes on the orchestrator before the work reaches its key, and goes on after it.
  await sleep(500);
  const result = await work();
  await sleep(500);
  stopping = true;
  await Promise.all(writing);
  await expect.poll(async () => (await live.store.pool.query('SELECT 1 FROM outbox WHERE open')).rowCount, { timeout: 30_000 }).toBe(0);
  await live.sims.flush();
  return { result, replies };
}

/** besideAgents with the backfill of `service` for work. */
export const backfillBesideAgents = (
  live: LiveStack,
  service: ServiceName,
  agents: number,
  round: (a: number, n: number) => LegacyRequest[],
): Promise<{ result: BackfillResult; replies: unknown[] }> =>
  besideAgents(live, service, agents, round, () => runBackfill(live.config, live.store, service, { batchSize: 5, concurrency: 4 }));

/**
 * Holds `keys` towards the orchestrator (a key hold, as a backfill's) until `release()`: the keys' writes wait behind
 * it. Resolves once every hold is taken; `done` once they have ended.
 */
export async function holdKeys(live: LiveStack, service: ServiceName, keys: readonly string[]): Promise<{ release(): void; done: Promise<unknown> }> {
  let release = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  const holds = new KeyHolds(live.store.pool);
  let taken = 0;
  const done = Promise.all(keys.map((key) => holds.hold(service, key, 'new', () => (taken++, released))));
  await expect.poll(() => taken, { timeout: 30_000 }).toBe(keys.length);
  return { release, done };
}

/**
 * besideAgents with a reconciliation of `service` for work (`repair`, or compare only). The `held` keys' writes to the
 * orchestrator are held back (holdKeys) until two seconds after the run's first comparison: they are on their way
 * whenever the sides are first compared and at the re-check's first look.
 */
export const reconcileBesideAgents = (
  live: LiveStack,
  service: ServiceName,
  agents: number,
  round: (a: number, n: number) => LegacyRequest[],
  opts: { repair?: boolean; held?: string[] } = {},
): Promise<{ result: ReconcileResult; replies: unknown[] }> =>
  besideAgents(live, service, agents, round, async () => {
    const held = await holdKeys(live, service, opts.held ?? []);
    try {
      // Writes of each held key wait behind its hold.
      await sleep(300);
      return await reconcileService(live.config, live.store, live.proxy.flags, service, {
        repair: opts.repair ?? false,
        onProgress: () => void sleep(2000).then(held.release),
      });
    } finally {
      held.release();
      await held.done;
    }
  });
