/**
 * The settings replicas must share, on a real PostgreSQL: each replica sees a live one that differs from it, and
 * sizes its barriers for the largest bound any replica published lately, a stopped one's too until it ages out.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FleetSettings, type SharedSettings } from '../../src/outbox/fleet.js';
import { useOutboxTable } from '../support/outbox.js';
import pg from 'pg';
import { Relay } from '../support/relay.js';
import { sleep, waitUntil } from './support.js';

const db = useOutboxTable();
// Live: seen within three of these; generous enough that a busy machine's late tick does not drop a member.
const EVERY_MS = 250;
const members: FleetSettings[] = [];
afterEach(() => {
  for (const m of members.splice(0)) m.close();
});

const member = (replica: string, settings: SharedSettings, keepMs = 60_000, stages: Record<string, string> = {}) => {
  const m = new FleetSettings(db.pool, replica, settings, { everyMs: EVERY_MS, keepMs }, () => stages).start();
  members.push(m);
  return m;
};

it('names what a live replica sets otherwise, and sizes the barriers for the largest bound', async () => {
  const a = member('a', { keyOrder: 'replicas', maxInFlight: { 'session-memory/legacy': 4, 'session-memory/new': 256 } });
  const b = member('b', { keyOrder: 'replica', maxInFlight: { 'session-memory/legacy': 64, 'session-memory/new': 256 } });
  await waitUntil(() => a.live() === 2 && b.live() === 2, 10_000, 'both replicas see each other');
  expect(a.disagreements()).toEqual(['outbox.keyOrder: replicas here, replica on b', 'session-memory/legacy maxInFlight: 4 here, 64 on b']);
  expect(b.disagreements()).toEqual(['outbox.keyOrder: replica here, replicas on a', 'session-memory/legacy maxInFlight: 64 here, 4 on a']);
  // One ping more than the largest bound, whichever replica has it; legs nobody else bounds keep their own.
  const own = (_service: string, side: string) => (side === 'legacy' ? 5 : 257);
  expect(a.barrierPings(own)('session-memory', 'legacy')).toBe(65);
  expect(a.barrierPings(own)('session-memory', 'new')).toBe(257);
  expect(b.barrierPings(() => 65)('session-memory', 'legacy')).toBe(65);
});

it("agrees with replicas set alike, and keeps a stopped replica's bound until it ages out", async () => {
  const a = member('a2', { keyOrder: 'replicas', maxInFlight: { 'jarvis-memory/legacy': 8 } }, 5_000);
  const b = member('b2', { keyOrder: 'replicas', maxInFlight: { 'jarvis-memory/legacy': 8 } }, 5_000);
  const c = member('c2', { keyOrder: 'replicas', maxInFlight: { 'jarvis-memory/legacy': 100 } }, 5_000);
  await waitUntil(() => [a, b].every((m) => m.live() === 3), 10_000, 'three replicas live for both');
  expect(b.disagreements()).toEqual(['jarvis-memory/legacy maxInFlight: 8 here, 100 on c2']);
  c.close();
  // Not live after three missed publications: no longer a disagreement, but its writes may still be taken over.
  await waitUntil(() => [a, b].every((m) => m.live() === 2 && m.disagreements().length === 0), 10_000, 'c2 no longer live for either');
  const own = () => 9;
  expect(a.barrierPings(own)('jarvis-memory', 'legacy')).toBe(101);
  // Past keepMs its row is gone, and so is its bound.
  await waitUntil(() => a.barrierPings(own)('jarvis-memory', 'legacy') === 9, 10_000, "c2's bound aged out");
});

it('names a service served at another stage by a live replica (a flags file not updated there)', async () => {
  const settings = { keyOrder: 'replicas', maxInFlight: {} };
  const stages = { 'session-memory': 'new-primary', 'jarvis-memory': 'shadow' };
  const a = member('a3', settings, 60_000, stages);
  const b = member('b3', settings, 60_000, { 'session-memory': 'shadow', 'jarvis-memory': 'shadow' });
  await waitUntil(() => [a, b].every((m) => m.live() === 2), 10_000, 'both live');
  expect(a.disagreements()).toEqual(['session-memory stage: new-primary here, shadow on b3']);
  expect(b.disagreements()).toEqual(['session-memory stage: shadow here, new-primary on a3']);
  // Once this replica's flags say so too, at its next look: nothing apart.
  stages['session-memory'] = 'shadow';
  await waitUntil(() => a.disagreements().length === 0 && b.disagreements().length === 0, 10_000, 'stages alike again');
});

it('keeps a replica live that could not publish while the store was away, its row read before its next publication', async () => {
  const { relay, url: relayed } = await Relay.before(db.pool.options.connectionString!);
  const pool = new pg.Pool({ connectionString: relayed });
  const settings = { keyOrder: 'replicas', maxInFlight: {} };
  // Not started: its exchanges are made here, one at a time.
  const a = new FleetSettings(pool, 'a4', settings, { everyMs: EVERY_MS, keepMs: 60_000 }, () => ({}));
  try {
    // The earlier tests' replicas gone; b4 publishes a moment before the store goes away.
    await db.pool.query('DELETE FROM fleet_settings');
    await db.pool.query('INSERT INTO fleet_settings (replica, settings) VALUES ($1, $2)', ['b4', settings]);
    await a.exchange();
    expect(a.live()).toBe(2);
    // The store silent for a4 (and, as a whole, for b4: it publishes no more) for ten publications.
    relay.freeze();
    const exchanged = a.exchange();
    await sleep(10 * EVERY_MS);
    relay.thaw();
    await exchanged;
    // Read at once after the store's return, b4's row is ten publications old: before, b4 was taken for gone.
    expect(a.live()).toBe(2);
    // Its next exchange, the store answering since: b4 has missed its publications, and is gone.
    await a.exchange();
    expect(a.live()).toBe(1);
  } finally {
    a.close();
    await pool.end();
    await relay.close();
  }
});

describe('a replica that starts (introduce)', () => {
  const settings = { keyOrder: 'replicas', maxInFlight: {} };
  // Not started: introduce() makes its exchanges. A publication a second here, so that the wait is seen.
  const starting = (replica: string, pool = db.pool, everyMs = 1_000) => {
    const m = new FleetSettings(pool, replica, settings, { everyMs, keepMs: 60_000 }, () => ({}));
    members.push(m);
    return m;
  };
  // A row as a replica of this version publishes it, naming the owner whose lock says it lives.
  const row = (replica: string, owner: string) =>
    db.pool.query('INSERT INTO fleet_settings (replica, settings) VALUES ($1, $2)', [replica, { ...settings, owner, readAt: '2000-01-01 00:00:00+00' }]);
  // The owner lock as an outbox holds it: a session advisory lock, class 'mskw', key from the owner's name.
  const holdOwnerLock = async (owner: string) => {
    const client = new pg.Client({ connectionString: db.pool.options.connectionString! });
    await client.connect();
    await client.query('SELECT pg_advisory_lock(1836280695, hashtext($1) & 2147483647)', [owner]);
    return client;
  };
  beforeEach(() => db.pool.query('DELETE FROM fleet_settings'));

  it('serves only once a live replica has read the others since it published', async () => {
    const a = new FleetSettings(db.pool, 'a5', settings, { everyMs: 1_000, keepMs: 60_000 }, () => ({})).start();
    members.push(a);
    await waitUntil(() => a.live() === 1, 10_000, 'a5 has read the fleet');
    // a5 knows of b5 once it has published a read made after b5's: up to three of a5's publications where its read
    // raced b5's first. b5 waits four of its own: two seconds each here, lest a busy host's late timers run it out.
    const b = starting('b5', db.pool, 2_000);
    expect(await b.introduce()).toBe(true);
    // Had b5 served at once, a5 would not know of it until its next publication, up to a second later.
    expect(a.live()).toBe(2);
  });

  it('does not wait for a replica whose owner lock went with it (killed), but for one that holds it until it ages out', async () => {
    await row('dead', 'locked:dead-host:1:aaaaaa');
    const b = starting('b6');
    expect(await b.introduce()).toBe(true);
    // The dead replica's row is still live for b6 (published within three seconds): it was not waited for.
    expect(b.live()).toBe(2);

    await db.pool.query('DELETE FROM fleet_settings');
    const lock = await holdOwnerLock('locked:paused-host:2:bbbbbb');
    try {
      await row('paused', 'locked:paused-host:2:bbbbbb');
      const c = starting('c6');
      expect(await c.introduce()).toBe(true);
      // Alive by its lock but silent (paused): waited for until its row aged out, three publications.
      expect(c.live()).toBe(1);
    } finally {
      await lock.end();
    }
  });

  it('counts a replica that holds its owner lock as one that may write, however long it has not published (paused)', async () => {
    const lock = await holdOwnerLock('locked:paused-host:3:cccccc');
    const e = starting('e8');
    try {
      // Published five seconds ago (five publications here), its lock held all along: a paused replica.
      await db.pool.query("INSERT INTO fleet_settings (replica, settings, seen_at) VALUES ($1, $2, now() - interval '5 seconds')", [
        'paused3',
        { ...settings, owner: 'locked:paused-host:3:cccccc' },
      ]);
      expect(await e.exchange()).toBe(true);
      expect([e.live(), e.peers()]).toEqual([1, 1]);
    } finally {
      await lock.end();
    }
    // Its lock gone with it (killed): no longer a replica that may write.
    await waitUntil(async () => (await e.exchange()) && e.peers() === 0, 10_000, 'the dead replica no longer counted');
  });

  it('does not wait for a store that does not answer', async () => {
    const { relay, url: relayed } = await Relay.before(db.pool.options.connectionString!);
    const pool = new pg.Pool({ connectionString: relayed });
    try {
      relay.freeze();
      expect(await starting('d7', pool).introduce()).toBe(false);
    } finally {
      relay.thaw();
      await pool.end();
      await relay.close();
    }
  });
});
