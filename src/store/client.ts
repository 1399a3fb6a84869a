/**
 * Store connection helpers: a checkout that leaves no 'error' event unhandled, a transaction, bounds on a silent peer,
 * and which failures say the server is out of reach.
 */
import pg from 'pg';
import { withDeadline } from '../util/deadline.js';
import type { Settings } from '../util/pg-url.js';

const ignore = () => undefined;

/**
 * A checked-out client whose server goes away emits 'error', and the pool only listens to idle ones:
 * unhandled, it would take the process down. The query in progress fails and reports it instead.
 */
export async function connectClient(pool: pg.Pool): Promise<pg.PoolClient> {
  const client = await pool.connect();
  if (!client.listeners('error').includes(ignore)) client.on('error', ignore);
  return client;
}

/** Runs `work` in one transaction on a checked-out client: committed if it resolves, rolled back if not. */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await connectClient(pool);
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    client.release();
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    // A client whose transaction failed may have lost its connection: it is not put back in the pool.
    client.release(true);
    throw err;
  }
}

/**
 * Settings that make the server close a connection of memshift's whose peer went silent (its host lost, the
 * network cut, nothing closed) within about `ms`: keepalive probes from half of it, one a second, and a cap on
 * unacknowledged data. The connection's advisory locks (a key's turn, a reconciliation's) go with it; left to the
 * operating system's keepalive, they would outlive the host by two hours and more. PostgreSQL 12 or later.
 */
export function lossSettings(ms: number): Settings {
  const half = Math.max(1, Math.ceil(ms / 2_000));
  return [
    ['tcp_keepalives_idle', half],
    ['tcp_keepalives_interval', 1],
    ['tcp_keepalives_count', half],
    ['tcp_user_timeout', ms],
  ];
}

/**
 * Ends a client; when its server does not take the goodbye within `ms` (lost with its host: nothing closes the
 * connection), drops the socket instead, so that a shutdown does not wait out TCP's retransmissions.
 */
export async function endClient(client: pg.Client, ms = 2_000): Promise<void> {
  await withDeadline(client.end(), ms, () => new Error('no goodbye')).catch(() => client.connection.stream.destroy());
}

/** A failure that says the server is not there (yet), rather than that it refused us. */
export function outOfReach(err: unknown): boolean {
  if (!(err instanceof pg.DatabaseError)) return true; // a socket's error, a connect or attempt timing out
  const code = err.code ?? '';
  // connection exceptions, shutting down or starting up, too many connections
  return code.startsWith('08') || code.startsWith('57P') || code === '53300';
}
