/** Advisory lock statements batched per connection, on a real PostgreSQL: each ask answered as if alone. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import pg from 'pg';
import { AwaitingAnswer, LockBatches } from '../../src/store/lock-batches.js';
import { freshDatabaseUrl } from '../support/database.js';

const CLS = 0x7465_7374;
let url: string;
const pools: pg.Pool[] = [];
const connection = () => {
  const pool = new pg.Pool({ connectionString: url, max: 1, idleTimeoutMillis: 0 });
  pools.push(pool);
  return new LockBatches(pool);
};

beforeAll(async () => {
  url = await freshDatabaseUrl();
});
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
});

/** The advisory locks of class CLS held right now, by any connection. */
async function heldCount(): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query<{ n: string }>("SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::oid AND granted", [CLS]);
    return Number(rows[0]!.n);
  } finally {
    await c.end();
  }
}

it('answers each of many tries asked at once, in one batch or a few, and lets each go', async () => {
  const [a, b] = [connection(), connection()];
  const names = Array.from({ length: 40 }, (_, i) => `key-${i}`);
  expect(await Promise.all(names.map((n) => a.try(CLS, n)))).toEqual(names.map(() => true));
  expect(await heldCount()).toBe(40);
  // Held by the other connection: refused there, each one, while a free key among them is granted.
  expect(await Promise.all([...names.slice(0, 5), 'free'].map((n) => b.try(CLS, n)))).toEqual([false, false, false, false, false, true]);
  await Promise.all([...names.map((n) => a.unlock(CLS, n)), b.unlock(CLS, 'free')]);
  expect(await heldCount()).toBe(0);
});

it('leaves a key held once when it is let go and taken again in one batch, and free for another once let go', async () => {
  const [a, b] = [connection(), connection()];
  expect(await a.try(CLS, 'again')).toBe(true);
  // Asked together on one connection: one batch, unlock and try.
  expect(await Promise.all([a.unlock(CLS, 'again'), a.try(CLS, 'again')])).toEqual([true, true]);
  expect(await heldCount()).toBe(1);
  expect(await b.try(CLS, 'again')).toBe(false);
  await a.unlock(CLS, 'again');
  expect(await b.try(CLS, 'again')).toBe(true);
  await b.unlock(CLS, 'again');
  expect(await heldCount()).toBe(0);
});

it('fails every ask of a batch the store refuses, and goes on with the next', async () => {
  const a = connection();
  await expect(Promise.all([a.try(CLS, 'fine'), a.try(Number.MAX_SAFE_INTEGER, 'out of range')])).rejects.toThrow(/out of range/);
  expect(await a.try(CLS, 'next')).toBe(true);
  await a.unlock(CLS, 'next');
});

it("keeps a connection's keys when a statement's answer comes late, and lets go of what the late answer took", async () => {
  const pool = new pg.Pool({ connectionString: url, max: 1, idleTimeoutMillis: 0 });
  pools.push(pool);
  const pid = (await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  const [a, other] = [new LockBatches(pool, 500, 30_000), connection()];
  expect(await a.try(CLS, 'kept')).toBe(true);
  // The server process behind a's connection stops (a busy or paused store): the next answer comes past the bound.
  process.kill(pid, 'SIGSTOP');
  try {
    await expect(a.try(CLS, 'late')).rejects.toThrow(/no answer to a lock statement within 500 ms/);
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  // The connection's next statement goes once the late answer is read and what it took for no one ('late') let go:
  // tried before that, it fails unsent.
  await expect.poll(() => a.try(CLS, 'after').catch(() => false), { timeout: 20_000 }).toBe(true);
  expect(await heldCount()).toBe(2);
  expect(await other.try(CLS, 'late')).toBe(true);
  expect(await other.try(CLS, 'kept')).toBe(false);
  await Promise.all([a.unlock(CLS, 'kept'), a.unlock(CLS, 'after'), other.unlock(CLS, 'late')]);
  expect(await heldCount()).toBe(0);
});

it('lets go of a key whose unlock was asked while the connection waited for a late answer', async () => {
  // As the key locks' own pools: a checkout waits at most 1 s.
  const pool = new pg.Pool({ connectionString: url, max: 1, idleTimeoutMillis: 0, connectionTimeoutMillis: 1_000 });
  pools.push(pool);
  const pid = (await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  const [a, other] = [new LockBatches(pool, 500, 30_000), connection()];
  expect(await a.try(CLS, 'let go late')).toBe(true);
  process.kill(pid, 'SIGSTOP');
  let unlocked: Promise<unknown>;
  try {
    await expect(a.try(CLS, 'late again')).rejects.toThrow(/no answer/);
    // A try meanwhile fails at once, as one on a connection awaiting an answer (the store itself not taken for away).
    await expect(a.try(CLS, 'meanwhile')).rejects.toBeInstanceOf(AwaitingAnswer);
    // Its holder lets the key go while the connection it is held on waits: longer than a checkout may wait.
    unlocked = a.unlock(CLS, 'let go late');
    await new Promise((r) => setTimeout(r, 1_500));
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  await unlocked;
  // Before, the unlock found no connection within 1 s and was given up: the key stayed held on it for good.
  await expect.poll(heldCount, { timeout: 20_000 }).toBe(0);
  expect(await other.try(CLS, 'let go late')).toBe(true);
  await other.unlock(CLS, 'let go late');
});
