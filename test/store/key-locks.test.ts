/** The store's per-key locks on a real PostgreSQL: two replicas, each with its own, on one database. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import pg from 'pg';
import { PgKeyLocks } from '../../src/store/key-locks.js';
import { KeyBusy } from '../../src/services/types.js';
import { freshDatabaseUrl } from '../support/database.js';
import { openStoreFor } from '../../src/store/open.js';
import { Relay } from '../support/relay.js';
import { waitUntil } from '../outbox/support.js';
import { parseConfig } from '../../src/config.js';

const S = 'contextual-memory';
let url: string;
const opened: PgKeyLocks[] = [];
const replica = (waitMs?: number, lossGraceMs?: number) => {
  const locks = new PgKeyLocks(url, { waitMs, lossGraceMs });
  opened.push(locks);
  return locks;
};

beforeAll(async () => {
  url = await freshDatabaseUrl();
});
afterAll(async () => {
  await Promise.all(opened.map((l) => l.close().catch(() => undefined)));
});

/** A promise and the function that settles it. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { opened, open };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `locks` holding `key` with work that waits; resolves once the work has begun, with the call that ends it. */
async function holding(locks: PgKeyLocks, key: string): Promise<{ release(): Promise<void> }> {
  const release = gate();
  const entered = gate();
  const held = locks.hold(S, key, async () => {
    entered.open();
    await release.opened;
  });
  await entered.opened;
  return {
    release: () => {
      release.open();
      return held;
    },
  };
}

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

it('lets go of a dead replica keys with its connection', async () => {
  const [a, b] = [replica(), replica()];
  const dying = await holding(a, 'dies-holding');
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    // Its connection ends as a killed process's would.
    const { rowCount } = await admin.query(
      `SELECT pg_terminate_backend(l.pid) FROM pg_locks l WHERE l.locktype = 'advisory' AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    );
    expect(rowCount).toBe(1);
  } finally {
    await admin.end();
  }
  let ran = false;
  await b.hold(S, 'dies-holding', async () => {
    ran = true;
  });
  expect(ran).toBe(true);
  await dying.release();
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

it('still runs the work when the store cannot be reached (held in this process only)', async () => {
  const down = new URL(url);
  down.port = '1';
  const locks = new PgKeyLocks(down.toString());
  opened.push(locks);
  expect(await locks.hold(S, 'any', async () => 'done')).toBe('done');
  expect(await locks.hold(S, 'any', async () => 'again')).toBe('again');
});

it('holds its keys across replicas again once the store answers again, after holding them in this process only', async () => {
  const { relay, url: relayed } = await Relay.before(url);
  const a = new PgKeyLocks(relayed, { waitMs: 300 });
  opened.push(a);
  const holder = await holding(replica(), 'returning');
  try {
    // The store cut off from a: its lock statements fail, and it runs the work without the other replica's lock.
    relay.cut();
    expect(await a.hold(S, 'returning', async () => 'alone')).toBe('alone');
    relay.restore();
    // Once a finds the store answering again, the other's hold keeps it out: past its wait, its work is not run.
    const kept = () => a.hold(S, 'returning', async () => false).catch((err: unknown) => err instanceof KeyBusy);
    await waitUntil(kept, 20_000, "the other replica's hold respected again");
    await holder.release();
    expect(await a.hold(S, 'returning', async () => 'shared')).toBe('shared');
  } finally {
    await holder.release();
    await relay.close();
  }
}, 60_000);

it("takes its wait from the config's store.keyLockWaitMs", async () => {
  const store = await openStoreFor(parseConfig({ store: { url, keyLockWaitMs: 250 } }));
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
  const c = new pg.Client({ connectionString: url });
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
  await Promise.all(opened.splice(0).map((l) => l.close()));
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

/** Ends every connection to this test's database but the one asking, as a server that crashes or restarts ends them. */
async function endEveryConnection(): Promise<void> {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
  } finally {
    await admin.end();
  }
}

it("waits out the grace after the store ended its lock connections: another replica's work under way on the key finishes first", async () => {
  const [a, b] = [replica(undefined, 3_000), replica(undefined, 3_000)];
  const events: string[] = [];
  // b has a connection on the key's shard, as a replica serving for a while has.
  await b.hold(S, 'crash-held', async () => undefined);
  const working = await holding(a, 'crash-held');
  // Every connection to this database ended, as a crashing or restarting server ends them: a's lock goes with its own.
  await endEveryConnection();
  // a's work was still making its calls: it ends a second later.
  const finished = sleep(1_000).then(() => (events.push('a finished'), working.release()));
  await b.hold(S, 'crash-held', async () => void events.push('b ran'));
  await finished;
  expect(events).toEqual(['a finished', 'b ran']);
}, 60_000);

it('does not wait out the grace when its fleet knows of no other replica: none had work under way to finish', async () => {
  const alone = replica(undefined, 30_000);
  alone.countPeers(() => 0);
  await alone.hold(S, 'alone-held', async () => undefined);
  await endEveryConnection();
  const events: string[] = [];
  // Far inside the grace, far beyond a lock statement on a new connection.
  const mark = sleep(10_000).then(() => events.push('10 s'));
  await alone.hold(S, 'alone-held', async () => void events.push('ran'));
  await mark;
  expect(events).toEqual(['ran', '10 s']);
}, 60_000);
