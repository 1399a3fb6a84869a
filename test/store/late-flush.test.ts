/**
 * Counts whose flush was given up (the store stopped past the statement bound, SIGSTOP) and which the store applied
 * late, once it ran again: the report's figures hold each count once, not once more at the next flush. A real
 * PostgreSQL of the file's own, stopped whole: the statements wait in its backends' sockets, as in a stopped server's.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/store/db.js';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/store/embedded.js';
import { tempDataDir, type TempDir } from './helpers.js';

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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  for (const deadline = Date.now() + ms; !(await cond()); await sleep(100)) if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
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
  await until(async () => (await mismatches()) === 7 && (await kinds()) === 3, 'the late statements applied');
  await store.flush();
  await store.flush();
  expect([await mismatches(), await kinds()]).toEqual([7, 3]);
  // Later counts still get through.
  store.comparisons.record({ service: 'session-memory', action: 'get_context', outcome: 'mismatch' });
  await store.flush();
  expect(await mismatches()).toBe(8);
}, 60_000);
