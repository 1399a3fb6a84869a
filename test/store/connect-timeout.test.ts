/**
 * A state store URL's `connect_timeout` (or PGCONNECT_TIMEOUT), as libpq reads it: node-postgres reads it for its native
 * binding only, so a server that takes the TCP connection and never answers held memshift's connects to its own bounds.
 * The tighter of the two applies; a longer one in the URL does not loosen memshift's own. In a list of hosts it bounds
 * each host, as libpq's does, so a silent first host leaves time for the next.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { outboxPools } from '../../src/outbox/outbox.js';
import { pgClient, pgPool } from '../../src/util/pg-url.js';
import { freshDatabaseUrl } from '../support/database.js';

// Takes connections and says nothing, as a PostgreSQL host whose process hangs does.
let silent: Server | undefined;
const held: Socket[] = [];
let url = '';

beforeAll(async () => {
  silent = createServer((s) => void held.push(s));
  await new Promise<void>((resolve) => silent!.listen(0, '127.0.0.1', resolve));
  url = `postgres://memshift:secret@127.0.0.1:${(silent.address() as { port: number }).port}/memshift`;
});

afterAll(async () => {
  for (const s of held.splice(0)) s.destroy();
  await new Promise((resolve) => silent?.close(resolve));
});

/** Whether a connect through `query` gave up on the silent server (resolves with its error) before `withinMs`. */
async function gaveUp(query: () => Promise<unknown>, withinMs: number): Promise<Error | 'still waiting'> {
  return Promise.race([
    query().then(
      () => new Error('answered'),
      (err: Error) => err,
    ),
    new Promise<'still waiting'>((resolve) => setTimeout(() => resolve('still waiting'), withinMs).unref()),
  ]);
}

it("gives a pool's connect up after the URL's connect_timeout where memshift's own bound is looser", async () => {
  for (const mode of ['', '&sslmode=disable']) {
    const pool = pgPool(`${url}?connect_timeout=2${mode}`, 'test', [], { max: 1, connectionTimeoutMillis: 120_000 });
    pool.on('error', () => undefined);
    try {
      const outcome = await gaveUp(() => pool.query('SELECT 1'), 40_000);
      expect(outcome, mode || 'no sslmode').toBeInstanceOf(Error);
      expect(String(outcome)).toMatch(/timeout|terminated/i);
    } finally {
      await pool.end().catch(() => undefined);
    }
  }
}, 120_000);

it('takes PGCONNECT_TIMEOUT where the URL names none', async () => {
  const before = process.env.PGCONNECT_TIMEOUT;
  process.env.PGCONNECT_TIMEOUT = '2';
  try {
    const client = pgClient(`${url}?sslmode=disable`, 'test', { connectionTimeoutMillis: 120_000 });
    client.on('error', () => undefined);
    const outcome = await gaveUp(() => client.connect(), 40_000);
    expect(outcome).toBeInstanceOf(Error);
    await client.end().catch(() => undefined);
  } finally {
    if (before === undefined) delete process.env.PGCONNECT_TIMEOUT;
    else process.env.PGCONNECT_TIMEOUT = before;
  }
}, 120_000);

it("keeps memshift's own bound where the URL's is longer, and waits where neither bounds it", async () => {
  const bounded = pgClient(`${url}?connect_timeout=600&sslmode=disable`, 'test', { connectionTimeoutMillis: 2_000 });
  bounded.on('error', () => undefined);
  expect(await gaveUp(() => bounded.connect(), 40_000)).toBeInstanceOf(Error);
  await bounded.end().catch(() => undefined);
  // connect_timeout=0 is no limit, as in libpq: the connect is still waiting when the test stops looking.
  const unbounded = pgClient(`${url}?connect_timeout=0&sslmode=disable`, 'test');
  unbounded.on('error', () => undefined);
  const connecting = unbounded.connect().catch((err: Error) => err);
  expect(await gaveUp(() => connecting, 5_000)).toBe('still waiting');
  // The server's side closed: the connect ends.
  for (const s of held.splice(0)) s.destroy();
  expect(await connecting).toBeInstanceOf(Error);
}, 120_000);

it("gives each host of a list the URL's connect_timeout, as libpq does: past a silent first host to the next", async () => {
  const real = new URL(await freshDatabaseUrl());
  const listed = `postgres://${real.username}:${real.password}@${new URL(url).host},${real.host}${real.pathname}?connect_timeout=2`;
  const pool = pgPool(listed, 'test', [], { max: 1, connectionTimeoutMillis: 20_000 });
  pool.on('error', () => undefined);
  try {
    expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows[0]!.one).toBe(1);
  } finally {
    await pool.end().catch(() => undefined);
  }
}, 120_000);

it("gives the outbox's connects up on a server that takes them and says nothing", async () => {
  // Without a bound of its own, a pool's connect waits for ever: a pump waiting on it never finished its write.
  for (const [name, config] of Object.entries(outboxPools(60_000))) {
    const pool = pgPool(`${url}?sslmode=disable`, 'test', [], config);
    pool.on('error', () => undefined);
    try {
      const outcome = await gaveUp(() => pool.query('SELECT 1'), 40_000);
      expect(outcome, name).toBeInstanceOf(Error);
      expect(String(outcome), name).toMatch(/timeout|terminated/i);
    } finally {
      await pool.end().catch(() => undefined);
    }
  }
}, 120_000);
