/** Checking a client out of a pool without leaving its 'error' event unhandled. */
import type pg from 'pg';

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
