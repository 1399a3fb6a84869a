/**
 * Writes given up at the statement bound which the store completed late: counts (the store stopped, SIGSTOP, the
 * statements waiting in its backends' sockets) and a mismatch sample (a commit slower than the bound) are held once,
 * not once more after the next flush; a guard bucket's earlier counts, and flags fetched earlier, are not put over
 * newer ones. A real PostgreSQL of the file's own.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/store/db.js';
import { GuardFleet } from '../../src/guard/fleet.js';
import { Bucket } from '../../src/guard/window.js';
import { FetchedFlags } from '../../src/store/fetched-flags.js';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/store/embedded.js';
import { tempDataDir, type TempDir } from './helpers.js';
import { waitUntil } from '../outbox/support.js';

let dir: TempDir;
let server: EmbeddedPostgresHandle;
let store: Store;
let db: pg.Client;
let stopped: number[] = [];

beforeAll(async () => {
  dir = await tempDataDir();
  server = await startEmbeddedPostgres({ dataDir: dir.dataDir });
  // No timed flush: the test flushes when it means to. A short statement bound, so a silent store is given up soon.
  store = await openStore({ url: server.url, flushIntervalMs: 3_600_000, statementTimeoutMs: 1_000 });
  db = new pg.Client({ connectionString: server.url });
  await db.connect();
}, 60_000);
afterAll(async () => {
  signal('SIGCONT');
  await store?.close();
  await db?.end();
  await server?.stop();
  await dir?.remove();
});

/** The server's processes: the postmaster (first line of its pid file) and its children (backends and helpers). */
function serverPids(): number[] {
  const postmaster = Number(readFileSync(join(server.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const children = execFileSync('pgrep', ['-P', String(postmaster)], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map(Number);
  return [postmaster, ...children];
}

function signal(sig: NodeJS.Signals): void {
  for (const pid of stopped) process.kill(pid, sig);
  if (sig === 'SIGCONT') stopped = [];
}

const mismatches = async () => Number((await db.query(`SELECT coalesce(sum(count), 0) AS n FROM comparison_counts WHERE outcome = 'mismatch'`)).rows[0].n);
const kinds = async () => Number((await db.query(`SELECT coalesce(sum(count), 0) AS n FROM comparison_tallies WHERE starts_with(tally, 'kind.')`)).rows[0].n);

it('a flush given up while the store was stopped, applied by it late, is not counted again by the next flush', async () => {
  for (let i = 0; i < 7; i++) store.comparisons.record({ service: 'session-memory', action: 'get_context', outcome: 'mismatch' });
  store.tallies.add('session-memory', 'get_context', 'kind.value', 3);
  // Two idle connections in the pool, so that both flushes send their statements (a new one would wait to connect).
  await Promise.all([store.pool.query('SELECT pg_sleep(0.1)'), store.pool.query('SELECT pg_sleep(0.1)')]);
  stopped = serverPids();
  signal('SIGSTOP');
  // Given up at the statement bound.
  await Promise.all([store.comparisons.flush(), store.tallies.flush()]);
  signal('SIGCONT');
  // The backends apply them now: the outcome the flush gave up on was not a failure.
  await waitUntil(async () => (await mismatches()) === 7 && (await kinds()) === 3, 20_000, 'the late statements applied');
  await store.flush();
  await store.flush();
  expect([await mismatches(), await kinds()]).toEqual([7, 3]);
  // Later counts still get through.
  store.comparisons.record({ service: 'session-memory', action: 'get_context', outcome: 'mismatch' });
  await store.flush();
  expect(await mismatches()).toBe(8);
}, 60_000);

it('a sample whose commit outlasted the statement bound, and completed, is not stored again by the next flush', async () => {
  // A commit that takes 8 s (as one waiting for a synchronous standby), with a 1 s bound on every statement.
  await db.query(`CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(8); RETURN NULL; END $$`);
  await db.query(
    `CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON mismatch_samples DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()`,
  );
  const samples = async () => Number((await db.query(`SELECT count(*) AS n FROM mismatch_samples`)).rows[0].n);
  store.samples.add({ service: 'session-memory', action: 'get_context', request: {}, legacyReply: 1, newReply: 2, diff: [] });
  await store.samples.flush();
  // The flush gave up on its commit (about 2 s: the commit's bound, then the rollback's), which the store then completed.
  expect(await samples()).toBe(0);
  await waitUntil(async () => (await samples()) === 1, 20_000, 'the late commit');
  await db.query('DROP TRIGGER slow_commit ON mismatch_samples');
  await store.samples.flush();
  await store.samples.flush();
  expect(await samples()).toBe(1);
}, 60_000);

/**
 * `late` on a connection whose backend is stopped (given up at a 1 s bound, held in the backend's socket), then `newer`
 * on a new connection, served at once; then the backend runs again, and has worked off what it held when this resolves.
 */
async function lateThenNewer(late: (pool: pg.Pool) => Promise<unknown>, newer: (pool: pg.Pool) => Promise<unknown>): Promise<void> {
  const pool = new pg.Pool({ connectionString: server.url, max: 1, query_timeout: 1_000 } as pg.PoolConfig);
  try {
    const { rows } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    stopped = [rows[0]!.pid];
    signal('SIGSTOP');
    await expect(late(pool)).rejects.toThrow();
    await newer(pool);
    signal('SIGCONT');
    await waitUntil(
      async () => (await db.query(`SELECT count(*) AS n FROM pg_stat_activity WHERE pid = $1`, [rows[0]!.pid])).rows[0].n === '0',
      20_000,
      'the stopped backend gone',
    );
  } finally {
    await pool.end();
  }
}

it("a replica's guard bucket published late is not put over the newer publish", async () => {
  const bucket = (compared: number) => Object.assign(new Bucket(7), { compared, mismatches: 1, newCalls: compared, latencyPairs: compared });
  await lateThenNewer(
    (pool) => new GuardFleet(pool, 'replica-a').publish('session-memory', [bucket(5)]),
    (pool) => new GuardFleet(pool, 'replica-a').publish('session-memory', [bucket(9)]),
  );
  expect((await new GuardFleet(store.pool, 'replica-b').peers('session-memory', 0))?.compared).toBe(9);
}, 60_000);

it('flags fetched from Unleash and kept late are not put over flags fetched after them', async () => {
  const flags = (name: string) => ({ version: 2, features: [{ name, enabled: true, strategies: [] }] });
  const fetched = Date.now();
  await lateThenNewer(
    (pool) => new FetchedFlags(pool).write('memshift', flags('older'), new Date(fetched)),
    (pool) => new FetchedFlags(pool).write('memshift', flags('newer'), new Date(fetched + 1_000)),
  );
  expect(await store.fetchedFlags.read('memshift')).toEqual(flags('newer'));
}, 60_000);
