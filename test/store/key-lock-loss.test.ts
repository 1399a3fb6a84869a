/**
 * The store's per-key locks when their connections go: a replica killed, the store out of reach or starting up, the
 * store's server ending every connection (a crash, a restart) with work in flight under them. Real PostgreSQL.
 */
import { expect, it } from 'vitest';
import pg from 'pg';
import { createServer, type AddressInfo } from 'node:net';
import { PgKeyLocks } from '../../src/store/key-locks.js';
import { KeyBusy } from '../../src/services/types.js';
import { Relay } from '../support/relay.js';
import { sleep, waitUntil } from '../outbox/support.js';
import { holding, S, useReplicas } from './key-locks-support.js';

const { db, replica } = useReplicas();

it('lets go of a dead replica keys with its connection', async () => {
  const [a, b] = [replica(), replica()];
  const dying = await holding(a, 'dies-holding');
  const admin = new pg.Client({ connectionString: db.url });
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

it('still runs the work when the store cannot be reached (held in this process only)', async () => {
  const down = new URL(db.url);
  down.port = '1';
  const locks = new PgKeyLocks(down.toString());
  db.opened.push(locks);
  expect(await locks.hold(S, 'any', async () => 'done')).toBe('done');
  expect(await locks.hold(S, 'any', async () => 'again')).toBe('again');
});

it('runs the work, the key held in this process only, while the store starts up ("not yet accepting connections")', async () => {
  // A server in a crash's recovery answers every connection's startup so (FATAL 57P03) and closes it: an outage, not a
  // fault. The client asks for TLS first (an 8-byte SSLRequest), which is declined ('N').
  const starting = createServer((socket) => {
    socket.on('data', (d) => {
      if (d.length === 8 && d.readInt32BE(4) === 80877103) socket.write('N');
      else socket.end(errorResponse('57P03', 'the database system is not yet accepting connections'));
    });
  });
  await new Promise<void>((r) => starting.listen(0, '127.0.0.1', r));
  try {
    const locks = new PgKeyLocks(`postgres://memshift@127.0.0.1:${(starting.address() as AddressInfo).port}/memshift`);
    db.opened.push(locks);
    expect(await locks.hold(S, 'starting', async () => 'ran')).toBe('ran');
  } finally {
    starting.close();
  }
});

/** PostgreSQL's ErrorResponse message, FATAL, with its SQLSTATE and text. */
function errorResponse(code: string, message: string): Buffer {
  const fields = Buffer.from(`SFATAL\0VFATAL\0C${code}\0M${message}\0\0`);
  const head = Buffer.alloc(5);
  head.write('E');
  head.writeInt32BE(fields.length + 4, 1);
  return Buffer.concat([head, fields]);
}

it('holds its keys across replicas again once the store answers again, after holding them in this process only', async () => {
  const { relay, url: relayed } = await Relay.before(db.url);
  const a = new PgKeyLocks(relayed, { waitMs: 300 });
  db.opened.push(a);
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

/** Ends every connection to this test's database but the one asking, as a server that crashes or restarts ends them. */
async function endEveryConnection(): Promise<void> {
  const admin = new pg.Client({ connectionString: db.url });
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
  const mark = setTimeout(() => events.push('10 s'), 10_000);
  await alone.hold(S, 'alone-held', async () => void events.push('ran'));
  clearTimeout(mark);
  expect(events).toEqual(['ran']);
}, 60_000);
