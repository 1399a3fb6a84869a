/**
 * A contextual write refused unsent (outbox.whenStoreAway refuse) because the store did not answer its intent in time,
 * the insert committing after the replica was killed with kill -9: the next start drops that row (outbox.heldFile keeps
 * the refusal), rather than take it over as a write whose call to ContextualMemoryAgent may have been under way, which
 * it would copy to the orchestrator as applied: a write the agent was told was refused, on one side only (chaos seed
 * 1011).
 */
import pg from 'pg';
import { expect, it } from 'vitest';
import { ReqClient } from '../support/zmq-client.js';
import { queryOnce } from '../outbox/support.js';
import { legacyRecords, newRecords } from './records.js';
import { interaction, openRows, sleep, useChildStack, waitUntil } from './support.js';

const CONTEXTUAL = 'contextual-memory';
const { sims, memshift, url } = useChildStack({ stage: 'dual-write', services: [CONTEXTUAL], extra: ['outbox.whenStoreAway=refuse'] });

const rowsOf = (key: string) =>
  queryOnce<{ status: string }>(url(), 'SELECT status FROM outbox WHERE service = $1 AND key = $2 ORDER BY seq', [CONTEXTUAL, key]);

it("drops at the next start a refused write's intent that committed after its replica was killed, and copies nothing of it", async () => {
  const session = 'refused-late';
  const key = { service: CONTEXTUAL, key: session } as const;
  const m = memshift();
  const agent = new ReqClient(m.fronts[CONTEXTUAL]!, 15_000);
  // The key's row locked by another session: the intent's insert waits there past the outbox's bound, then commits.
  const locker = new pg.Client({ connectionString: url() });
  await locker.connect();
  let locked = false;
  try {
    expect(await agent.call(interaction(session, 0))).toBe(true);
    await waitUntil(async () => (await openRows(url())) === 0, 30_000, '#0 copied');
    await locker.query('BEGIN');
    locked = true;
    expect((await locker.query('SELECT 1 FROM outbox_keys WHERE service = $1 AND key = $2 FOR UPDATE', [CONTEXTUAL, session])).rowCount).toBe(1);
    expect(await agent.call(interaction(session, 1))).toMatchObject({ status: 'error', message: expect.stringContaining('write refused unsent') });
    await m.kill();
    // Its insert, still waiting at the store when its process died, commits once the lock is let go.
    await locker.query('ROLLBACK');
    locked = false;
    await waitUntil(async () => (await rowsOf(session)).length === 2, 30_000, "#1's intent committed late");
    // Back later than its primary calls' budget (a pod rescheduled): the row is due for a takeover from its first poll.
    await sleep(4_000);
    await m.restart();
    await waitUntil(async () => (await openRows(url())) === 0, 30_000, "#1's row settled");
    expect((await rowsOf(session))[1]).toMatchObject({ status: 'dropped' });
    // Past the time a takeover would have copied it (its primary calls' budget after the row last changed).
    await sleep(5_000);
    expect(newRecords(sims(), key)).toEqual([`${session} #0`]);
    expect(legacyRecords(sims(), key)).toEqual([`${session} #0`]);
  } finally {
    agent.close();
    if (locked) await locker.query('ROLLBACK');
    await locker.end();
    if (!m.child) await m.restart();
  }
}, 120_000);
