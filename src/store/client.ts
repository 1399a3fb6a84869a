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
