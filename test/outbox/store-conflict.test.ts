/**
 * A statement of the outbox's that the store rolls back for a conflict with another (a deadlock, 40P01, as two replicas'
 * completions had in CI run 294) is sent again, and the store is not taken for away: before, it was, and with
 * another replica live (outbox.whenStoreAway: hold-alone) every write was refused until the next flush (37 of the 1,200
 * racing writes of replicas.test.ts). Here the store raises the conflict itself, once, from a trigger on a copy's
 * completion, in front of a memshift process whose log is read.
 */
import { expect, it } from 'vitest';
import { ReqClient } from '../support/zmq-client.js';
import { openRows, useChildStack, waitUntil } from '../hangs/support.js';
import { queryOnce } from './support.js';

const J = 'jarvis-memory';
const USER = 'conflicted';
const { url, memshift } = useChildStack({ stage: 'dual-write', services: [J] });

/** Raises deadlock_detected at the first completion of USER's write (a sequence: its value outlives the rollback). */
const CONFLICT_ONCE = `
  CREATE SEQUENCE conflict_once;
  CREATE FUNCTION conflict_once() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    IF nextval('conflict_once') = 1 THEN
      RAISE EXCEPTION 'deadlock detected (raised by the test)' USING ERRCODE = 'deadlock_detected';
    END IF;
    RETURN NEW;
  END $$;
  CREATE TRIGGER conflict_once BEFORE UPDATE ON outbox FOR EACH ROW
    WHEN (OLD.status = 'inflight' AND NEW.status = 'done' AND NEW.key = '${USER}') EXECUTE FUNCTION conflict_once();`;

it('sends a completion the store rolled back for a conflict again, and does not take the store for away', async () => {
  await queryOnce(url(), CONFLICT_ONCE);
  const agent = new ReqClient(memshift().fronts[J]!, 20_000);
  try {
    expect(await agent.call({ action: 'add_memory', user_id: USER, memory: { n: 0 } })).toMatchObject({ status: 'ok' });
    await waitUntil(async () => (await openRows(url())) === 0, 60_000, 'the copy landed and its completion stored');
  } finally {
    agent.close();
  }
  // The store raised it once, and the completion sent again passed.
  const [seq] = await queryOnce<{ last_value: string }>(url(), 'SELECT last_value FROM conflict_once');
  expect(Number(seq!.last_value)).toBeGreaterThanOrEqual(2);
  expect(await queryOnce(url(), 'SELECT status FROM outbox WHERE key = $1', [USER])).toEqual([{ status: 'done' }]);
  const log = memshift().child!.output();
  expect(log).toMatch(/rolled back for a conflict with another \(not an outage\): sent again/);
  // Before: "state store unreachable: secondary writes held in memory until it returns".
  expect(log).not.toMatch(/state store unreachable/);
}, 120_000);
