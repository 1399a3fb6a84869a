/**
 * One write claimed twice by one process: the poll's claim of a row whose lease ran out while the store was paused,
 * and its pump's of the same own write. The older claim, reaching the pump after the newer one had sent the write and
 * finished it, said it was never sent, and sent it again (`npm run chaos` with the store paused: a write twice on
 * legacy). Here the older claim is made by hand, and handed to the runner as a pump would get it.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { expect, it } from 'vitest';
import type { OutboxRunner } from '../../src/outbox/runner.js';
import { OutboxTable } from '../../src/outbox/table.js';
import { requestOnce } from '../support/zmq-client.js';
import { useRelayedStack } from './relayed.js';
import { legacyContents, openRows, sleep, waitUntil } from './support.js';

const stack = useRelayedStack();
const S = 'session-memory' as const;

it('does not send a write again for an older claim of it once a newer one finished it', async () => {
  const [sims, url, proxy] = [stack.sims(), stack.url(), stack.proxy()];
  const created = await requestOnce(proxy.fronts[S]!, { action: 'create_session', session_id: 'twice', user_id: 'twice' }, 15_000);
  expect(JSON.parse(created.toString())).toMatchObject({ status: 'success' });
  await waitUntil(async () => (await openRows(url)).open === 0, 30_000, 'session copied');

  // The proxy's outbox: its owner's name and its runner, which the older claim is handed to.
  const outbox = proxy.runner.secondary as unknown as { owner: string; runner: OutboxRunner };
  const pool = new pg.Pool({ connectionString: url });
  const table = new OutboxTable(pool);
  const id = randomUUID();
  const request = { action: 'add_interaction', session_id: 'twice', role: 'user', content: 'once only' };
  try {
    // A copy towards legacy (legacy keeps a write sent twice twice), its primary known to have applied it.
    await table.insert(
      {
        id,
        service: S,
        key: 'twice',
        action: 'add_interaction',
        side: 'legacy',
        raw: Buffer.from(JSON.stringify(request)),
        effect: 'neutral',
        createdAt: new Date(),
      },
      60_000,
      true,
    );
    // The older claim, under the proxy's owner name, with a lease that runs out at once: the proxy's poll claims it again.
    // Made due and claimed in one transaction, so that the proxy's poll cannot claim it first (it did under load).
    const client = await pool.connect();
    let older;
    try {
      await client.query('BEGIN');
      await client.query(`UPDATE outbox SET next_attempt_at = now() WHERE id = $1`, [id]);
      const claimed = await new OutboxTable(client as unknown as pg.Pool).claim({
        owner: outbox.owner,
        leaseMs: 1,
        limit: 1,
        services: [S],
        ownerGoneMs: 60_000,
      });
      await client.query('COMMIT');
      older = claimed.find((r) => r.id === id);
    } finally {
      client.release();
    }
    expect(older).toMatchObject({ wasSent: false });
    await waitUntil(
      async () => (await pool.query(`SELECT status FROM outbox WHERE id = $1`, [id])).rows[0]?.status === 'done',
      30_000,
      'the newer claim finished it',
    );
    expect(legacyContents(sims, 'twice')).toEqual(['once only']);

    outbox.runner.kick(S, 'twice', older);
    await sleep(1_000);
    await waitUntil(async () => !outbox.runner.busy, 10_000, 'the pump idle');
    expect(legacyContents(sims, 'twice')).toEqual(['once only']);
  } finally {
    await pool.end();
  }
}, 90_000);
