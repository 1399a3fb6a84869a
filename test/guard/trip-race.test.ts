/**
 * Replicas racing to store one trip: every replica of a fleet sums the same window, so several cross a threshold at
 * once. The fleet stores one event (one chat line, one trip in the report); a trip made after a replica read the
 * other's event, or after a resume let it go, is a trip of its own. Two stores (two pools, as two replicas) on a real
 * PostgreSQL, the trips sent at once.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { GuardEvents, type GuardEventInput } from '../../src/guard/events.js';
import { openStore, type Store } from '../../src/store/index.js';
import { freshDatabaseUrl } from '../support/database.js';

const S = 'jarvis-memory';
const figures = {
  windowMs: 60_000,
  compared: 1000,
  mismatches: 20,
  mismatchRate: 0.02,
  newCalls: 1000,
  newErrors: 0,
  errorRate: 0,
  latencySamples: 0,
  legacyP99Ms: null,
  newP99Ms: null,
  addedLatencyMs: null,
};
const trip = (replica: string): GuardEventInput => ({
  service: S,
  stage: 'cutover',
  breaches: [{ rule: 'mismatchRate', value: 0.02, threshold: 0.001, samples: 1000, minSamples: 1000 }],
  figures,
  flagsChanged: [{ flag: `memshift.${S}.read-new`, to: 'off' }],
  unleash: { changed: [] },
  replica,
});

let stores: Store[];
let a: GuardEvents;
let b: GuardEvents;

beforeAll(async () => {
  const url = await freshDatabaseUrl();
  stores = [await openStore({ url }), await openStore({ url })];
  [a, b] = stores.map((s) => new GuardEvents(s.pool)) as [GuardEvents, GuardEvents];
});
afterAll(async () => {
  for (const s of stores ?? []) await s.close();
});

const rollbacks = async () => (await a.list({ service: S })).filter((e) => e.kind !== 'resume');

it('two replicas tripping on one window at once store one event, and both hold it', async () => {
  for (let round = 0; round < 10; round++) {
    const seen = await a.lastId();
    const before = (await rollbacks()).length;
    const [ra, rb] = await Promise.all([a.recordTrip(trip('replica-a'), seen), b.recordTrip(trip('replica-b'), seen)]);
    // One stored, the other told of it: the same event for both.
    expect([ra.earlier, rb.earlier].sort(), `round ${round}`).toEqual([false, true]);
    expect(ra.event.id).toBe(rb.event.id);
    expect((await rollbacks()).length).toBe(before + 1);
    // A person resumes it (as the guard records one): the next round's trips are new ones.
    await a.record({ ...trip('replica-a'), kind: 'resume', resumes: ra.event.id, breaches: [], flagsChanged: [] });
  }
});

it("a trip made after one's own, after reading the other's, or after a resume let the other's go, is stored", async () => {
  const first = await a.recordTrip(trip('replica-a'), await a.lastId());
  expect(first.earlier).toBe(false);
  // A's own earlier trip is not another replica's.
  const own = await a.recordTrip(trip('replica-a'), first.event.id - 1);
  expect(own.earlier).toBe(false);
  // B had read A's trips (its last seen event is A's last): a later breach of its own.
  expect((await b.recordTrip(trip('replica-b'), own.event.id)).earlier).toBe(false);
  // B's next trip, resumed before A's trip (made before A read either) reached the store: A's is stored, not folded
  // into the one let go of.
  const seen = await a.lastId();
  const other = await b.recordTrip(trip('replica-b'), seen);
  await b.record({ ...trip('replica-b'), kind: 'resume', resumes: other.event.id, breaches: [], flagsChanged: [] });
  expect((await a.recordTrip(trip('replica-a'), seen)).earlier).toBe(false);
});

it('an event sent again after an attempt given up on (its insert landed meanwhile) is stored once', async () => {
  const input = { ...trip('replica-a'), uid: randomUUID(), at: '2026-11-28T05:00:00.000Z' };
  const [first, again] = await Promise.all([a.record(input), b.record(input)]);
  expect(again.id).toBe(first.id);
  expect(first.at).toBe(input.at);
  expect((await a.list({ service: S })).filter((e) => e.id === first.id)).toHaveLength(1);
  expect((await a.recordTrip(input, first.id - 1)).event.id).toBe(first.id);
});
