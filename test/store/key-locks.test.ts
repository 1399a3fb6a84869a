/** The store's per-key locks on a real PostgreSQL: two replicas, each with its own, on one database. */
import { expect, it } from 'vitest';
import pg from 'pg';
import { KeyBusy } from '../../src/services/types.js';
import { openStoreFor } from '../../src/store/open.js';
import { parseConfig } from '../../src/config.js';
import { sleep } from '../outbox/support.js';
import { gate, holding, S, useReplicas } from './key-locks-support.js';

const { db, replica } = useReplicas();

it('runs one replica at a time on a key, and different keys at once', async () => {
  const [a, b] = [replica(), replica()];
  let inside = 0;
  let most = 0;
  const work = (id: string, done: string[]) => async () => {
    most = Math.max(most, ++inside);
    await sleep(5);
    done.push(id);
    inside--;
  };
  const done: string[] = [];
  await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).hold(S, 'one-key', work(`w${i}`, done))));
  expect(done).toHaveLength(12);
  expect(most).toBe(1);

  // Two keys: the second's work runs while the first's holds (it would wait out the wait and fail if keys shared a lock).
  const first = await holding(a, 'key-x');
  expect(await b.hold(S, 'key-y', async () => 'ran')).toBe('ran');
  await first.release();
});

it('fails the work, without running it, when another replica holds the key past the wait', async () => {
  const [a, b] = [replica(), replica(300)];
  const holder = await holding(a, 'busy');
  let ran = false;
  await expect(
    b.hold(S, 'busy', async () => {
      ran = true;
    }),
  ).rejects.toBeInstanceOf(KeyBusy);
  expect(ran).toBe(false);
  await holder.release();
  // Let go once the holder is done: the next one gets in.
  await b.hold(S, 'busy', async () => {
    ran = true;
  });
  expect(ran).toBe(true);
});

it('lets a waiting replica in between the turns of one that keeps taking the key', async () => {
  const [a, b] = [replica(), replica(300)];
  let going = true;
  // One replica's agent deciding again and again in the session, each turn 60 ms.
  const busy = (async () => {
    while (going) await a.hold(S, 'contended', () => sleep(60));
  })();
  await sleep(50);
  let ran = false;
  try {
    await b.hold(S, 'contended', async () => {
      ran = true;
    });
  } finally {
    going = false;
    await busy;
  }
  expect(ran).toBe(true);
});

it("takes its wait from the config's store.keyLockWaitMs", async () => {
  const store = await openStoreFor(parseConfig({ store: { url: db.url, keyLockWaitMs: 250 } }));
  const holder = await holding(replica(), 'configured');
  try {
    await expect(store.keyLocks.hold(S, 'configured', async () => undefined)).rejects.toThrow(/waited 250 ms/);
  } finally {
    await holder.release();
    await store.close();
  }
});

it("takes a key's write-order lock apart from its own lock: held around work that takes the key's lock inside", async () => {
  const [a, b] = [replica(), replica(300)];
  // In one process, the key's lock inside its write-order lock (a contextual write at new-primary does that).
  expect(await a.writeOrder.hold(S, 'nested', () => a.hold(S, 'nested', async () => 'inside'))).toBe('inside');
  // Across replicas, the write-order lock alone keeps the other out of it, not out of the key's lock.
  const order = gate();
  const entered = gate();
  const held = a.writeOrder.hold(S, 'apart', async () => {
    entered.open();
    await order.opened;
  });
  await entered.opened;
  expect(await b.hold(S, 'apart', async () => 'own lock free')).toBe('own lock free');
  await expect(b.writeOrder.hold(S, 'apart', async () => undefined)).rejects.toBeInstanceOf(KeyBusy);
  order.open();
  await held;
  expect(await b.writeOrder.hold(S, 'apart', async () => 'its turn')).toBe('its turn');
});

it('keeps a key held past the work until what the work kept settles (a call that may still land)', async () => {
  const [a, b] = [replica(), replica(300)];
  const late = gate();
  // The work ends (the agent is answered); the key stays held until the late call settles.
  expect(await a.writeOrder.hold(S, 'kept', async (keep) => (keep(late.opened), 'answered'))).toBe('answered');
  await expect(b.writeOrder.hold(S, 'kept', async () => undefined)).rejects.toBeInstanceOf(KeyBusy);
  const mine: string[] = [];
  const next = a.writeOrder.hold(S, 'kept', async () => void mine.push('after the late call'));
  await sleep(50);
  expect(mine).toEqual([]);
  late.open();
  await next;
  expect(mine).toEqual(['after the late call']);
  expect(await b.writeOrder.hold(S, 'kept', async () => 'free')).toBe('free');
});

/** How many key locks (memshift's class of advisory locks) the store grants right now, to any connection. */
async function heldNow(): Promise<number> {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    const { rows } = await c.query<{ n: number }>(
      // This database's only: the server's other databases are other test files' (their replicas take keys of the same class).
      "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = $1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
      [0x6d736b6c],
    );
    return rows[0]!.n;
  } finally {
    await c.end();
  }
}

it("keeps its keys when its process stalls past a lock statement's bound (SIGSTOP): the answer that came meanwhile is read", async () => {
  // The earlier tests' replicas let go of their connections first: a's must all be taken on the store, not in this process.
  await Promise.all(db.opened.splice(0).map((l) => l.close()));
  const a = replica();
  // Held on every connection of a's (sixteen keys over its four).
  const kept = Array.from({ length: 16 }, (_, i) => `stalled-held-${i}`);
  const holders = await Promise.all(kept.map((k) => holding(a, k)));
  expect(await heldNow()).toBe(kept.length);
  // Statements for more keys sent, then the process stops running for longer than their bound before it reads the answers.
  const more = Array.from({ length: 8 }, (_, i) => a.hold(S, `stalled-new-${i}`, async () => i));
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  const until = Date.now() + 1_500;
  while (Date.now() < until) {
    // stalled
  }
  expect(await Promise.all(more)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  // Before, the late answer counted as a store away: the connections were dropped, and with them the keys held there.
  // (The new keys' unlocks are not waited for by their work: counted once they are through.)
  await expect.poll(heldNow, { timeout: 20_000 }).toBe(kept.length);
  await Promise.all(holders.map((h) => h.release()));
}, 60_000);
