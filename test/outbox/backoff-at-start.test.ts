/**
 * A process that starts does not know why the writes waiting in the store's backoff wait (another replica's, or its
 * predecessor's, killed while the side failed): it tries them once the side answers its probe, not at the end of a
 * backoff that may be minutes long.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { expect, it } from 'vitest';
import { startProxy } from '../../src/proxy.js';
import { OutboxTable } from '../../src/outbox/table.js';
import { configFor } from '../support/stack.js';
import { requestOnce } from '../support/zmq-client.js';
import { useRelayedStack } from './relayed.js';
import { openRows, waitUntil } from './support.js';

const stack = useRelayedStack();
const S = 'session-memory' as const;

it('tries at start the writes a dead process left in backoff, once their side answers', async () => {
  const [sims, url] = [stack.sims(), stack.url()];
  const created = await requestOnce(stack.proxy().fronts[S]!, { action: 'create_session', session_id: 'left', user_id: 'left' }, 15_000);
  expect(JSON.parse(created.toString())).toMatchObject({ status: 'success' });
  await waitUntil(async () => (await openRows(url)).open === 0, 30_000, 'session copied');

  // As a process killed while the orchestrator failed left it: applied on legacy, its copy's retry two minutes away.
  const pool = new pg.Pool({ connectionString: url });
  const id = randomUUID();
  const request = { action: 'add_interaction', session_id: 'left', role: 'user', content: 'left in backoff' };
  try {
    await new OutboxTable(pool).insert(
      {
        id,
        service: S,
        key: 'left',
        action: 'add_interaction',
        side: 'new',
        raw: Buffer.from(JSON.stringify(request)),
        effect: 'neutral',
        createdAt: new Date(),
      },
      0,
      true,
    );
    await pool.query(`UPDATE outbox SET attempts = 1, next_attempt_at = now() + interval '120 seconds' WHERE id = $1`, [id]);
    const started = await startProxy(configFor(sims, url), { flags: stack.flags() });
    try {
      // Well within the backoff: the new process's first probe found the orchestrator answering.
      await waitUntil(async () => (await openRows(url)).open === 0, 60_000, 'the write left in backoff applied');
    } finally {
      await started.close();
    }
    const { rows } = await pool.query<{ status: string }>('SELECT status FROM outbox WHERE id = $1', [id]);
    expect(rows[0]!.status).toBe('done');
  } finally {
    await pool.end();
  }
}, 120_000);
