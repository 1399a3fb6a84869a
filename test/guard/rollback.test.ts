// The guard end to end: a proxy at read-new 50% (shadow 100%) for jarvis-memory, divergence and latency
// injected into the orchestrator simulator. Divergence is injected write by write (the fault's rate set to
// 1 around exactly the chosen writes) so the mismatch rate is exact and the verdicts cannot flake. Its webhooks go
// to a receiver that validates as Slack's incoming webhooks do, and to one that never answers.
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startProxy, type Proxy } from '../../src/proxy.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import type { Result } from '../../src/comparison/result.js';
import type { ServedEvent } from '../../src/plan/observer.js';
import { flagName } from '../../src/flags/names.js';
import type { Flags } from '../../src/flags/source.js';
import { TempFlags } from '../flags/helpers.js';
import { ReqClient } from '../support/zmq-client.js';
import { freshDatabaseUrl } from '../support/database.js';
import { configFor, startSims } from '../support/stack.js';
import { listen, startSlackLike, type SlackLike } from '../support/slack-like.js';

const S = 'jarvis-memory' as const;
const BUCKET_MS = 10_000;
const MISMATCH_MIN = 1000;
const LATENCY_MIN = 20;

let sims: SimHandle;
let proxy: Proxy;
let flags: Flags;
let temp: TempFlags;
const served: ServedEvent[] = [];
const compared: Array<{ e: Result; at: number }> = [];
let slack: SlackLike;
let silent: Server;

beforeAll(async () => {
  sims = await startSims();
  slack = await startSlackLike();
  // A receiver that takes the connection and never answers: nothing of the guard's may wait on it.
  silent = createServer(() => undefined);
  const webhooks = [slack.url, await listen(silent)];
  temp = await TempFlags.create({
    [flagName(S, 'dual-write')]: { enabled: true },
    [flagName(S, 'shadow-read')]: { enabled: true, rollout: 100 },
    [flagName(S, 'read-new')]: { enabled: true, rollout: 50 },
  });
  flags = await temp.open();
  const config = configFor(sims, await freshDatabaseUrl(), {
    guard: {
      bucketMs: BUCKET_MS,
      buckets: 6,
      mismatchRate: { threshold: 0.001, minSamples: MISMATCH_MIN },
      errorRate: { threshold: 0.01, minSamples: 200 },
      addedLatencyMs: { threshold: 100, minSamples: LATENCY_MIN },
      webhooks,
    },
  });
  proxy = await startProxy(config, {
    flags,
    observers: [{ served: (e) => served.push(e), compared: (e) => compared.push({ e, at: Date.now() }) }],
  });
});
afterAll(async () => {
  await proxy?.close();
  await proxy?.store.close();
  await temp?.dispose();
  await sims?.close();
  silent?.closeAllConnections();
  await slack?.close();
  await new Promise((r) => silent?.close(r));
});

beforeEach(async () => {
  proxy.guard!.resume(S);
  await sims.applyFaults('orchestrator', { latencyMs: 0, divergence: { rate: 0 } });
  served.length = 0;
  compared.length = 0;
});

/** Users with one memory each on both sides; `diverged(i)` ones stored altered on the new side. */
async function seed(prefix: string, count: number, diverged: (i: number) => boolean): Promise<string[]> {
  const users = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  const add = (user: string, i: number) => {
    const request = { action: 'add_memory', user_id: user, memory: { text: `note ${i}` } };
    sims.models[S].handle(request);
    return proxy.runner.translators[S]!.handle(request, { createMissing: true });
  };
  const clean = users.map((u, i) => [u, i] as const).filter(([, i]) => !diverged(i));
  await inBatches(clean, 32, ([u, i]) => add(u, i));
  await sims.applyFaults('orchestrator', { divergence: { rate: 1, mode: 'alter' } });
  for (const [i, u] of users.entries()) if (diverged(i)) await add(u, i);
  await sims.applyFaults('orchestrator', { divergence: { rate: 0 } });
  return users;
}

async function inBatches<T>(items: readonly T[], size: number, fn: (t: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

/**
 * Reads every user once through the proxy's ZeroMQ front with `concurrency` agents; returns the users
 * whose read started after the guard had rolled the service back.
 */
async function readAll(users: readonly string[], concurrency: number): Promise<Set<string>> {
  const afterTrip = new Set<string>();
  const queue = [...users];
  const agent = async () => {
    const c = new ReqClient(proxy.fronts[S]!);
    try {
      for (let u = queue.shift(); u !== undefined; u = queue.shift()) {
        if (proxy.guard!.tripped().includes(S)) afterTrip.add(u);
        const reply = (await c.call({ action: 'get_memories', user_id: u })) as { status: string };
        expect(reply.status).toBe('ok');
      }
    } finally {
      c.close();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, agent));
  return afterTrip;
}

const lastEvent = async () => {
  for (let i = 0; i < 50; i++) {
    const [e] = await proxy.guardEvents.list({ service: S, limit: 1 });
    if (e && proxy.guard!.status(S)?.lastEvent?.id === e.id) return e;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no guard event stored');
};

describe('mismatch rate', () => {
  it('1% divergence: rolls reads back to legacy within one bucket, dual writes kept, event stored with the figures', async () => {
    const users = await seed('one-pct', 1200, (i) => i % 100 === 50);
    const afterTrip = await readAll(users, 6);

    expect(proxy.guard!.tripped()).toEqual([S]);
    const event = await lastEvent();
    const breach = event.breaches.find((b) => b.rule === 'mismatchRate')!;
    expect(breach.samples).toBeGreaterThanOrEqual(MISMATCH_MIN);
    expect(breach.value).toBeGreaterThan(0.005);
    expect(event.figures.mismatches).toBeGreaterThanOrEqual(5);
    expect(event.stage).toBe('cutover');
    expect(event.flagsChanged).toEqual(
      expect.arrayContaining([
        { flag: flagName(S, 'read-new'), to: 'off' },
        { flag: flagName(S, 'shadow-read'), to: 'off' },
      ]),
    );
    expect(event.unleash).toEqual({ changed: [], skipped: 'flags come from a file' });
    // Acted on the very comparison that gave the window enough samples: well inside one bucket.
    const decisive = compared.filter((c) => c.e.outcome === 'match' || c.e.outcome === 'mismatch')[MISMATCH_MIN - 1]!;
    expect(Date.parse(event.at) - decisive.at).toBeLessThan(BUCKET_MS);

    // Every read that started after the rollback was served by legacy, and none was compared any more.
    expect(afterTrip.size).toBeGreaterThan(100);
    const after = served.filter((e) => afterTrip.has(e.route.request.user_id as string));
    expect(after).toHaveLength(afterTrip.size);
    expect(after.every((e) => e.side === 'legacy')).toBe(true);
    expect(flags.snapshot().services[S]!.stage).toBe('dual-write');
    expect(flags.decide(S, { userId: 'anyone' })).toMatchObject({ dualWrite: true, readNew: false, shadowRead: false });

    // The chat tool took the event, with a line a person reads; the silent receiver held up nothing above.
    await expect.poll(() => slack.posted.length, { timeout: 10_000 }).toBe(1);
    expect(slack.refused).toEqual([]);
    expect(slack.posted[0]!.event).toMatchObject({ id: event.id, service: S });
    expect(slack.posted[0]!.text).toMatch(
      new RegExp(`^memshift rolled ${S} back to legacy reads at cutover \\(replica [^)]+\\): mismatch rate [0-9.]+% over 0\\.1% \\(\\d+ samples\\)`),
    );
  });

  it('0.05% divergence does not trip it', async () => {
    const users = await seed('half-permille', 2000, (i) => i === 1000);
    await readAll(users, 6);
    const status = proxy.guard!.status(S)!;
    expect(status.state).toBe('watching');
    expect(status.figures.compared).toBeGreaterThanOrEqual(MISMATCH_MIN);
    expect(status.figures.mismatches).toBe(1);
    expect(status.figures.mismatchRate).toBeLessThanOrEqual(0.001);
    expect(served.filter((e) => e.side === 'new').length).toBeGreaterThan(600);
  });
});

describe('added latency', () => {
  let users: string[];
  beforeAll(async () => {
    users = await seed('latency', LATENCY_MIN + 5, () => false);
  });

  it('orchestrator +20 ms does not trip it', async () => {
    const eventsBefore = (await proxy.guardEvents.list({ service: S })).length;
    await sims.applyFaults('orchestrator', { latencyMs: 20 });
    // One agent: the simulated orchestrator answers one request at a time, so concurrency would add queueing.
    await readAll(users, 1);
    const status = proxy.guard!.status(S)!;
    expect(status.state).toBe('watching');
    expect(await proxy.guardEvents.list({ service: S })).toHaveLength(eventsBefore);
    expect(status.figures.latencySamples).toBeGreaterThanOrEqual(LATENCY_MIN);
    expect(status.figures.addedLatencyMs).toBeGreaterThan(15);
    expect(status.figures.addedLatencyMs).toBeLessThan(100);
  });

  it('orchestrator +150 ms trips it', async () => {
    await sims.applyFaults('orchestrator', { latencyMs: 150 });
    await readAll(users, 1);
    expect(proxy.guard!.tripped()).toEqual([S]);
    const event = await lastEvent();
    const breach = event.breaches.find((b) => b.rule === 'addedLatencyMs')!;
    expect(breach.value).toBeGreaterThan(100);
    expect(breach.samples).toBeGreaterThanOrEqual(LATENCY_MIN);
    expect(event.figures.newP99Ms).toBeGreaterThan(150);
    expect(flags.snapshot().services[S]!.stage).toBe('dual-write');
  });
});
