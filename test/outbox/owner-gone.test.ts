/**
 * Owner locks on real PostgreSQL: the writes a dead owner held (its claims, its stored intents) are claimed once its
 * lock is gone and their calls had their time, not at the end of their lease; a live owner's, and those of an owner
 * holding no lock (a replica of an earlier version), wait for their lease.
 */
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { OutboxTable, type OutboxIntent } from '../../src/outbox/table.js';
import { OWNER_POOL, OwnerLock } from '../../src/outbox/owner-lock.js';
import { migrate } from '../../src/store/migrations.js';
import { freshDatabaseUrl } from '../support/database.js';

let url: string;
let pool: pg.Pool;
const S = 'session-memory' as const;
const LEASE_MS = 600_000;

beforeAll(async () => {
  url = await freshDatabaseUrl();
  pool = new pg.Pool({ connectionString: url });
  await migrate(pool);
});
afterAll(() => pool.end());
beforeEach(() => pool.query('TRUNCATE outbox, outbox_keys'));

const intent = (key: string, side: 'legacy' | 'new'): OutboxIntent => ({
  id: randomUUID(),
  service: S,
  key,
  action: 'add_interaction',
  side,
  raw: Buffer.from(JSON.stringify({ action: 'add_interaction', session_id: key, role: 'user', content: key })),
  effect: 'neutral',
  createdAt: new Date(),
});
const claim = async (ownerGoneMs: number) =>
  (await new OutboxTable(pool).claim({ owner: 'survivor', leaseMs: 30_000, limit: 10, services: [S], ownerGoneMs })).map((r) => ({
    key: r.key,
    wasSent: r.wasSent,
  }));

/** Whether the server holds an owner lock of that name (looked for as the lock's holder never does: by hand). */
async function lockedInServer(owner: string): Promise<boolean> {
  const { rows } = await pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::int::oid AND objid = (hashtext($2) & 2147483647)::oid`,
    [0x6d736b77, owner],
  );
  return rows[0]!.n !== '0';
}

/** An owner's writes as its outbox stores them: one towards legacy (pending, held for its lease), one towards the orchestrator (claimed). */
async function storeAs(owner: string): Promise<void> {
  const table = new OutboxTable(pool, owner);
  await table.insert(intent(`${owner} pending`, 'legacy'), LEASE_MS, null);
  await table.insert(intent(`${owner} claimed`, 'new'), LEASE_MS, null, owner);
}

it("takes a dead owner's writes once its lock is gone and the calls' time is over, and no one else's", async () => {
  const lock = new OwnerLock(new pg.Pool({ connectionString: url, max: 1 }), 'locked:dies', 10_000).start();
  await expect.poll(() => lock.held, { timeout: 20_000 }).toBe(true);
  await storeAs('locked:dies');
  await storeAs('locked:lives');
  const living = new OwnerLock(new pg.Pool({ connectionString: url, max: 1 }), 'locked:lives', 10_000).start();
  await expect.poll(() => living.held, { timeout: 20_000 }).toBe(true);
  // Named as no lock-holder: a replica of an earlier version, whose lock no one can look for.
  await storeAs('earlier');
  try {
    expect(await claim(0)).toEqual([]);
    expect(await lockedInServer('locked:dies')).toBe(true);
    await lock.stop();
    expect(lock.held).toBe(false);
    // The pool ends before its connection has closed: the server lets the lock go a moment later.
    await expect.poll(() => lockedInServer('locked:dies'), { timeout: 20_000 }).toBe(false);
    // Their calls may still be under way: not yet.
    expect(await claim(LEASE_MS)).toEqual([]);
    const taken = await claim(0);
    expect(taken.sort((a, b) => a.key.localeCompare(b.key))).toEqual([
      // The claimed one may have been sent: looked up before it is sent again.
      { key: 'locked:dies claimed', wasSent: true },
      { key: 'locked:dies pending', wasSent: false },
    ]);
  } finally {
    await living.stop();
  }
}, 60_000);

it('lets go of the lock when its process is killed with SIGKILL, and holds it while the process is stopped', async () => {
  // A process of its own holding the lock as the outbox does (the module under test, loaded by tsx).
  const script = `import pg from 'pg'; import { OwnerLock } from './src/outbox/owner-lock.ts';
    const lock = new OwnerLock(new pg.Pool({ connectionString: process.env.URL, max: 1 }), 'locked:killed', 10_000).start();
    const t = setInterval(() => { if (lock.held) { console.log('held'); clearInterval(t); } }, 50); setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ...process.env, URL: url },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('held') && resolve());
      child.on('exit', (code) => reject(new Error(`lock holder exited with ${code}`)));
    });
    await storeAs('locked:killed');
    child.kill('SIGSTOP');
    // Stopped, not dead: its connection stays, and so does its lock.
    await new Promise((r) => setTimeout(r, 2_000));
    expect(await claim(0)).toEqual([]);
    child.kill('SIGKILL');
    await expect.poll(async () => (await claim(0)).length, { timeout: 30_000 }).toBe(2);
  } finally {
    child.kill('SIGKILL');
  }
}, 60_000);

it('keeps the lock on its connection when its process stalls with a heartbeat in flight past its bound (SIGSTOP)', async () => {
  const lock = new OwnerLock(new pg.Pool({ connectionString: url, ...OWNER_POOL }), 'locked:stalls', 3_000).start();
  try {
    await expect.poll(() => lock.held, { timeout: 20_000 }).toBe(true);
    const holder = async () =>
      (
        await pool.query<{ pid: number }>(
          `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = $1::int::oid AND objid = (hashtext($2) & 2147483647)::oid`,
          [0x6d736b77, 'locked:stalls'],
        )
      ).rows.map((r) => r.pid);
    const [pid] = await holder();
    // Its server process stopped a moment, so that a heartbeat is in flight when this process stalls past the bound.
    process.kill(pid!, 'SIGSTOP');
    await new Promise((r) => setTimeout(r, 400));
    process.kill(pid!, 'SIGCONT');
    const until = Date.now() + 4_500;
    while (Date.now() < until) {
      // stalled: the answer that comes meanwhile waits unread
    }
    // Before, the heartbeat's timer (node-postgres's, 2 s) fired first: the connection, and the lock, went.
    await expect.poll(() => lock.held, { timeout: 20_000 }).toBe(true);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await holder()).toEqual([pid]);
  } finally {
    await lock.stop();
  }
}, 60_000);
