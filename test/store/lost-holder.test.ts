/**
 * A replica's host lost while it holds a key: its lock connection goes silent (no answer, no close), and the store
 * lets go of the key within store.connectionLossMs, so that another replica's write gets its turn.
 */
import { beforeAll, expect, it } from 'vitest';
import pg from 'pg';
import { PgKeyLocks } from '../../src/store/key-locks.js';
import { freshDatabaseUrl } from '../support/database.js';
import { cutPort } from '../support/port-cut.js';

const S = 'session-memory';
let url: string;
beforeAll(async () => {
  url = await freshDatabaseUrl();
});

/** The client port of the one connection holding an advisory lock on this file's database. */
async function holderPort(): Promise<number> {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ port: number }>(
      `SELECT DISTINCT a.client_port AS port FROM pg_locks l JOIN pg_stat_activity a USING (pid)
        WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    );
    expect(rows).toHaveLength(1);
    return rows[0]!.port;
  } finally {
    await admin.end();
  }
}

it("lets another replica take a key within the store's connection loss time once its holder's host is gone", async () => {
  const lost = new PgKeyLocks(url);
  const other = new PgKeyLocks(url, { waitMs: 60_000 });
  let entered!: () => void;
  const holding = new Promise<void>((r) => (entered = r));
  // The lost replica's write never ends: its process is gone with its host.
  void lost.writeOrder.hold(S, 'lost-host', () => (entered(), new Promise(() => undefined)));
  await holding;
  const cut = await cutPort(await holderPort());
  try {
    // Without the server's watch, the key stays held for the operating system's keepalive: two hours and more.
    expect(await other.writeOrder.hold(S, 'lost-host', async () => 'its turn')).toBe('its turn');
  } finally {
    await cut.restore();
    await Promise.all([lost.close(), other.close()]);
  }
}, 120_000);
