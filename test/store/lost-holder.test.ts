/**
 * A replica's host lost while it holds a lock in the store: its connection goes silent (no answer, no close), and the
 * store's server lets go of the lock within store.connectionLossMs, so that another replica gets its turn.
 */
import { afterEach, expect, it } from 'vitest';
import pg from 'pg';
import { PgKeyLocks } from '../../src/store/key-locks.js';
import { openStoreFor } from '../../src/store/open.js';
import { parseConfig } from '../../src/config.js';
import type { Store } from '../../src/store/index.js';
import { freshDatabaseUrl } from '../support/database.js';
import { cutPort } from '../support/port-cut.js';

const S = 'session-memory';
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

/** A replica's store, with its connection loss time short enough for a test; and the database's URL. */
async function lostReplica(): Promise<{ store: Store; url: string }> {
  const url = await freshDatabaseUrl();
  const store = await openStoreFor(parseConfig({ store: { url, connectionLossMs: 4_000 } }));
  cleanups.push(() => store.close());
  return { store, url };
}

/** Every packet of the one connection holding an advisory lock on the database dropped from now on (until the test ends). */
async function loseHolder(url: string): Promise<void> {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ port: number }>(
      `SELECT DISTINCT a.client_port AS port FROM pg_locks l JOIN pg_stat_activity a USING (pid)
        WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    );
    expect(rows).toHaveLength(1);
    const cut = await cutPort(rows[0]!.port);
    cleanups.push(() => cut.restore());
  } finally {
    await admin.end();
  }
}

it("lets another replica take a key's turn once the holder's host is gone", async () => {
  const { store, url } = await lostReplica();
  let entered!: () => void;
  const holding = new Promise<void>((r) => (entered = r));
  // The lost replica's write never ends: its process is gone with its host.
  void store.keyLocks.writeOrder.hold(S, 'lost-host', () => (entered(), new Promise(() => undefined)));
  await holding;
  await loseHolder(url);
  const other = new PgKeyLocks(url, { waitMs: 60_000 });
  cleanups.push(() => other.close());
  // Without the server's watch the key stays held for the operating system's keepalive: two hours and more.
  expect(await other.writeOrder.hold(S, 'lost-host', async () => 'its turn')).toBe('its turn');
}, 120_000);

it("lets another replica take a lock held on the store's pool (a reconciliation's) once the holder's host is gone", async () => {
  const { store, url } = await lostReplica();
  const held = await store.pool.connect();
  held.on('error', () => undefined);
  cleanups.push(async () => held.release(true));
  await held.query(`SELECT pg_advisory_lock(hashtext('memshift.reconcile:session-memory'))`);
  await loseHolder(url);
  const other = new pg.Client({ connectionString: url, options: '-c lock_timeout=60000' });
  await other.connect();
  cleanups.push(() => other.end());
  const { rows } = await other.query(`SELECT pg_try_advisory_lock(hashtext('memshift.reconcile:session-memory')) AS free`);
  expect(rows[0].free, 'held while the holder is only silent').toBe(false);
  await other.query(`SELECT pg_advisory_lock(hashtext('memshift.reconcile:session-memory'))`);
}, 120_000);
