/**
 * Two replicas on one store guard as one fleet, flags from a file (no Unleash token): a divergence spread over
 * both so that neither alone reaches the guard's minimum samples trips the guard on their summed window, and
 * both serve every read from legacy within one window. A rollback the file does not show holds for a replica
 * started after it, until a person resumes it on any replica. A replica gone leaves its buckets to the others to drop.
 */
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { flagName } from '../../src/flags/names.js';
import { startProxy, type Proxy } from '../../src/proxy.js';
import type { ServedEvent } from '../../src/plan/observer.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { TempFlags } from '../flags/helpers.js';
import { freshDatabaseUrl } from '../support/database.js';
import { configFor, startSims } from '../support/stack.js';
import { ReqClient } from '../support/zmq-client.js';

const S = 'jarvis-memory' as const;
const MIN_SAMPLES = 400;
const WINDOW_MS = 10_000;

let sims: SimHandle;
let temp: TempFlags;
let config: Config;
const replicas: { proxy: Proxy; served: ServedEvent[] }[] = [];
const later: Proxy[] = [];

beforeAll(async () => {
  sims = await startSims();
  temp = await TempFlags.create({
    [flagName(S, 'dual-write')]: { enabled: true },
    [flagName(S, 'shadow-read')]: { enabled: true, rollout: 100 },
    [flagName(S, 'read-new')]: { enabled: true, rollout: 30 },
    ...Object.fromEntries(
      (['dual-write', 'shadow-read', 'read-new'] as const).map((k) => [
        flagName('session-memory', k),
        { enabled: true, ...(k === 'dual-write' ? {} : { rollout: 30 }) },
      ]),
    ),
  });
  const url = await freshDatabaseUrl();
  config = configFor(sims, url, {
    guard: {
      enabled: true,
      bucketMs: 1_000,
      buckets: WINDOW_MS / 1_000,
      mismatchRate: { threshold: 0.001, minSamples: MIN_SAMPLES },
      // Only the mismatch rate is under test: a busy machine must not trip the others.
      errorRate: { threshold: 0.5, minSamples: 100_000 },
      addedLatencyMs: { threshold: 60_000, minSamples: 100_000 },
    },
  });
  for (let i = 0; i < 2; i++) {
    const served: ServedEvent[] = [];
    const proxy = await startProxy(config, { flags: await temp.open({ pollIntervalMs: 100 }), observers: [{ served: (e) => served.push(e) }] });
    replicas.push({ proxy, served });
  }
}, 60_000);
afterAll(async () => {
  for (const p of later) await p.close();
  for (const r of replicas) await r.proxy.close();
  await replicas[0]?.proxy.store.close();
  await replicas[1]?.proxy.store.close();
  await temp?.dispose();
  await sims?.close();
});

async function read(proxy: Proxy, users: string[]): Promise<void> {
  const c = new ReqClient(proxy.fronts[S]!);
  try {
    for (const u of users) await c.call({ action: 'get_memories', user_id: u });
  } finally {
    c.close();
  }
}

it('a divergence neither replica alone has the samples for trips the fleet, and both read from legacy within one window', async () => {
  // One user holds a record only the orchestrator has: each read of it mismatches (0.2% of the reads).
  await replicas[0]!.proxy.runner.translators[S]!.handle({ action: 'add_memory', user_id: 'odd-one', memory: 'only on new' }, { createMissing: true });
  const [a, b] = replicas as [(typeof replicas)[0], (typeof replicas)[0]];
  const clean = (prefix: string) => Array.from({ length: 250 }, (_, i) => `${prefix}-${i}`);
  const started = Date.now();
  await Promise.all([read(a.proxy, [...clean('a').slice(0, 125), 'odd-one', ...clean('a').slice(125, 249)]), read(b.proxy, clean('b').slice(0, 249))]);

  const stage = (p: Proxy) => p.flags.snapshot().services[S]!.stage;
  for (const deadline = Date.now() + 30_000; (stage(a.proxy) !== 'dual-write' || stage(b.proxy) !== 'dual-write') && Date.now() < deadline;)
    await new Promise((r) => setTimeout(r, 50));
  const bothBack = Date.now();
  expect([stage(a.proxy), stage(b.proxy)]).toEqual(['dual-write', 'dual-write']);

  // Neither replica alone compared the minimum; the event that tripped counted both.
  for (const r of replicas) expect(r.proxy.runner.stats.of(S).compared).toBeLessThan(MIN_SAMPLES);
  const [event] = await a.proxy.guardEvents.list({ service: S });
  expect(event!.figures.compared).toBeGreaterThanOrEqual(MIN_SAMPLES);
  expect(event!.breaches.map((x) => x.rule)).toEqual(['mismatchRate']);
  const tripAt = Date.parse(event!.at);
  expect(bothBack - tripAt, `trip ${tripAt - started} ms after the reads began`).toBeLessThan(WINDOW_MS);
  expect(new Set(replicas.map((r) => r.proxy.guard!.status(S)!.state))).toEqual(new Set(['tripped']));
  // One event for the fleet, held by both: a replica that tripped on the summed window too (both often do, at once)
  // or followed the other's stores none of its own (trip-race.test.ts races the two at the store).
  await expect.poll(() => replicas.map((r) => r.proxy.guard!.status(S)!.lastEvent?.id), { timeout: 10_000 }).toEqual([event!.id, event!.id]);
  expect(await a.proxy.guardEvents.list({ service: S })).toHaveLength(1);

  // Every read on both replicas now served by legacy, users who were on new before included.
  for (const r of replicas) {
    const from = r.served.length;
    await read(r.proxy, clean('a').slice(0, 40));
    expect(new Set(r.served.slice(from).map((e) => e.side))).toEqual(new Set(['legacy']));
  }
}, 90_000);

it('a rollback recorded by another replica is followed by every replica, without Unleash', async () => {
  for (const r of replicas) expect(r.proxy.guard!.resume(S)).toBe(true);
  const stage = (p: Proxy) => p.flags.snapshot().services[S]!.stage;
  expect(replicas.map((r) => stage(r.proxy))).toEqual(['cutover', 'cutover']);
  const off = (kind: 'read-new' | 'shadow-read') => ({ flag: flagName(S, kind), to: 'off' as const });
  const figures = replicas[0]!.proxy.guard!.status(S)!.figures;
  await replicas[0]!.proxy.guardEvents.record({
    service: S,
    stage: 'cutover',
    breaches: [{ rule: 'mismatchRate', value: 0.01, threshold: 0.001, samples: MIN_SAMPLES, minSamples: MIN_SAMPLES }],
    figures,
    flagsChanged: [off('read-new'), off('shadow-read')],
    unleash: { changed: [], skipped: 'flags come from a file' },
    replica: 'a-third-replica',
  });
  for (const deadline = Date.now() + WINDOW_MS; replicas.some((r) => stage(r.proxy) !== 'dual-write') && Date.now() < deadline;)
    await new Promise((r) => setTimeout(r, 50));
  expect(replicas.map((r) => stage(r.proxy))).toEqual(['dual-write', 'dual-write']);
  expect(replicas.map((r) => r.proxy.guard!.status(S)!.lastEvent?.replica)).toEqual(['a-third-replica', 'a-third-replica']);
});

it('a replica started after a rollback the flags do not show follows it, until a person resumes it on any replica', async () => {
  // Another service than the tests above, so that no replica starting now finds mismatches in the fleet's buckets
  // (it would roll back by itself).
  const T = 'session-memory' as const;
  const stage = (p: Proxy) => p.flags.snapshot().services[T]!.stage;
  const until = async (ok: () => boolean, what: string) => {
    for (const deadline = Date.now() + 15_000; !ok(); await new Promise((r) => setTimeout(r, 50)))
      if (Date.now() > deadline) throw new Error(`${what}: not within 15 s`);
  };
  const start = async () => {
    const p = await startProxy(config, { flags: await temp.open({ pollIntervalMs: 100 }) });
    later.push(p);
    return p;
  };
  const [a, b] = replicas.map((r) => r.proxy) as [Proxy, Proxy];
  expect([stage(a), stage(b)]).toEqual(['cutover', 'cutover']);
  const off = (kind: 'read-new' | 'shadow-read') => ({ flag: flagName(T, kind), to: 'off' as const });
  await a.guardEvents.record({
    service: T,
    stage: 'cutover',
    breaches: [{ rule: 'mismatchRate', value: 0.01, threshold: 0.001, samples: MIN_SAMPLES, minSamples: MIN_SAMPLES }],
    figures: a.guard!.status(T)!.figures,
    flagsChanged: [off('read-new'), off('shadow-read')],
    unleash: { changed: [], skipped: 'flags come from a file' },
    replica: 'a-replica-gone-since',
  });
  await until(() => stage(a) === 'dual-write' && stage(b) === 'dual-write', 'the running replicas rolled back');
  // jarvis-memory, rolled back in the tests above, resumed: a replica started now must not count the fleet's
  // buckets from before (the first test's mismatches, still in the window), which the resume let go of.
  expect(a.guard!.resume(S)).toBe(true);
  await until(() => b.guard!.status(S)!.state === 'watching', 'the jarvis-memory resume followed');
  const jarvisEvents = (await a.guardEvents.list({ service: S })).length;
  // The file still says cutover.
  const third = await start();
  await until(() => stage(third) === 'dual-write', 'the replica started later rolled back');
  expect(third.guard!.status(T)!.state).toBe('tripped');
  await new Promise((r) => setTimeout(r, 500));
  expect(third.guard!.status(S)!.state).toBe('watching');
  expect(await a.guardEvents.list({ service: S })).toHaveLength(jarvisEvents);

  // A person resumes on one replica: the others follow, and one started after that stays at the file's stage.
  expect(a.guard!.resume(T)).toBe(true);
  await until(() => [b, third].every((p) => stage(p) === 'cutover'), 'the resume followed');
  expect(third.guard!.status(T)!.state).toBe('watching');
  const [resumed] = await third.guardEvents.list({ service: T, limit: 1 });
  expect(resumed).toMatchObject({ kind: 'resume', flagsChanged: [] });
  const fourth = await start();
  // Its first exchange with the fleet comes within a second; past two, it would have rolled back.
  await new Promise((r) => setTimeout(r, 2_500));
  expect(stage(fourth)).toBe('cutover');
  expect(fourth.guard!.status(T)!.state).toBe('watching');
});

it("drops a gone replica's buckets once they are a window past every window (each pod a new name: they would pile up)", async () => {
  const db = new pg.Client({ connectionString: config.store.url });
  await db.connect();
  try {
    const epochNow = Math.floor(Date.now() / config.guard.bucketMs);
    // Five buckets three windows old: out of every window, with room for a clock behind. One statement, its count
    // from the insert itself: the live replicas may prune some before a count read after it (run 252, a busy host).
    const inserted = await db.query(
      `INSERT INTO guard_buckets (service, replica, epoch, compared, mismatches, new_calls, new_errors, latency_pairs, legacy_hist, new_hist)
       SELECT $1, 'gone-pod', $2::bigint - i, 1, 0, 1, 0, 0, '{}', '{}' FROM generate_series(0, 4) AS i`,
      [S, epochNow - 3 * config.guard.buckets],
    );
    expect(inserted.rowCount).toBe(5);
    const left = async () => Number((await db.query(`SELECT count(*) AS n FROM guard_buckets WHERE replica = 'gone-pod'`)).rows[0].n);
    const deadline = Date.now() + 30_000;
    while ((await left()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await left(), 'the live replicas prune them').toBe(0);
    // The live replicas' own buckets of this window stay.
    await read(replicas[0]!.proxy, ['prune-1', 'prune-2']);
    const live = async () =>
      Number((await db.query(`SELECT count(*) AS n FROM guard_buckets WHERE replica <> 'gone-pod' AND epoch >= $1`, [epochNow])).rows[0].n);
    while ((await live()) === 0 && Date.now() < deadline + 30_000) await new Promise((r) => setTimeout(r, 100));
    expect(await live()).toBeGreaterThan(0);
  } finally {
    await db.end();
  }
});
