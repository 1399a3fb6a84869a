/**
 * At new-primary, a session whose id map entry this replica has not cached while the state store hangs (a relay in
 * front of PostgreSQL, frozen). Left waiting, the look-up would send the write on after the agent was told timeout,
 * once the store answered: after the key's later writes (the orchestrator then holds them in another order than
 * legacy) and perhaps after the outbox looked it up (a write legacy never gets). Bounded, the write is refused
 * unsent, with the store named, and nothing of it reaches either side.
 */
import pg from 'pg';
import { expect, it } from 'vitest';
import type { Proxy } from '../../src/proxy.js';
import { requestOnce } from '../support/zmq-client.js';
import { useRelayedStack } from './relayed.js';
import { describeOpenRows, legacyContents, newRecords, openRows, sleep, waitUntil } from './support.js';

// What the store does not take in time is held in memory and served (outbox.whenStoreAway hold): this file is about
// the id map's bound and a refused intent that commits late, not about refusing writes while the store is away, which
// the default (hold-alone) does here once the replica knows of the other (overtaken.test.ts).
const stack = useRelayedStack(['new-primary'], { direct: true, config: { outbox: { whenStoreAway: 'hold' } } });

type Reply = { status: string; message?: string };
const send = async (proxy: Proxy, request: unknown) =>
  JSON.parse((await requestOnce(proxy.fronts['session-memory']!, request, 15_000)).toString('utf8')) as Reply;
const add = (proxy: Proxy, sid: string, content: string) => send(proxy, { action: 'add_interaction', session_id: sid, role: 'user', content });

/** Makes the session through the other replica, so this one has not cached its mapping. */
async function sessionElsewhere(sid: string): Promise<void> {
  expect(await send(stack.direct(), { action: 'create_session', session_id: sid, user_id: 'u' })).toMatchObject({ status: 'success' });
  expect(await add(stack.direct(), sid, 'before')).toMatchObject({ status: 'success' });
}

/** Four writes after the store is back, then: the refused ones reached neither side, the others both, in order. */
async function afterwardsEqual(sid: string, refused: Reply[], release = async () => {}): Promise<void> {
  const [sims, viaRelay, url] = [stack.sims(), stack.proxy(), stack.url()];
  const after = [];
  for (let n = 0; n < 4; n++) after.push(await add(viaRelay, sid, `after #${n}`));
  await release();
  await waitUntil(async () => (await viaRelay.runner.secondary.stats()).memoryQueued === 0, 20_000, 'held writes stored');
  await viaRelay.runner.secondary.drain();
  await waitUntil(
    async () => (await openRows(url)).open === 0,
    20_000,
    'outbox drained',
    () => describeOpenRows(url),
  );
  // What a late look-up would have sent on has had time to land.
  await sleep(1_000);

  for (const reply of refused) expect(reply).toMatchObject({ status: 'error', message: expect.stringContaining('state store gave no answer') });
  for (const reply of after) expect(reply).toMatchObject({ status: 'success' });
  const expected = ['before', 'after #0', 'after #1', 'after #2', 'after #3'];
  await waitUntil(() => legacyContents(sims, sid).length === expected.length, 20_000, 'legacy copies');
  expect(newRecords(sims, sid).contents).toEqual(expected);
  expect(legacyContents(sims, sid)).toEqual(expected);
}

it('refuses a write unsent when the store does not answer its session look-up, and keeps both sides equal', async () => {
  const [viaRelay, relay] = [stack.proxy(), stack.relay()];
  const sid = 'id-map-hang';
  await sessionElsewhere(sid);
  relay.freeze();
  const during = [];
  for (let n = 0; n < 4; n++) during.push(await add(viaRelay, sid, `during #${n}`));
  relay.thaw();
  await afterwardsEqual(sid, during);
}, 120_000);

// The refused write's intent reached the store but commits only after the replica is back in touch and has dropped
// what it refused (a store that answers late: here the key's row lock, held by another session, keeps the insert
// waiting, and the replica's connections are cut meanwhile, as a network would). Left pending, that intent would
// hold the key's later writes back for a whole lease.
it('drops a refused write whose intent the store commits late, and keeps both sides equal', async () => {
  const [viaRelay, relay] = [stack.proxy(), stack.relay()];
  const sid = 'id-map-hang-late';
  await sessionElsewhere(sid);
  const [locker, observer] = [new pg.Client({ connectionString: stack.url() }), new pg.Client({ connectionString: stack.url() })];
  await Promise.all([locker.connect(), observer.connect()]);
  const lockerPid = (await locker.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
  // Sessions waiting on the locker's lock, directly or behind one that does (a second insert of the key queues
  // there). Asked from a session of its own: inside the locker's transaction pg_stat_activity stays as first read.
  const waiting = async () =>
    Number(
      (
        await observer.query(
          `WITH w AS (SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid)))
           SELECT count(*) AS n FROM pg_stat_activity a WHERE a.pid IN (SELECT pid FROM w) OR pg_blocking_pids(a.pid) && ARRAY(SELECT pid FROM w)`,
          [lockerPid],
        )
      ).rows[0].n,
    );
  try {
    await locker.query('BEGIN');
    expect((await locker.query(`SELECT 1 FROM outbox_keys WHERE service = 'session-memory' AND key = $1 FOR UPDATE`, [sid])).rowCount).toBe(1);
    const refused = add(viaRelay, sid, 'during');
    // Its intent at the store, waiting; from here on nothing more of this replica's reaches the store until the cut.
    await waitUntil(async () => (await waiting()) >= 1, 20_000, 'intent waiting on the lock');
    relay.freeze();
    const reply = await refused;
    relay.cut();
    relay.thaw();
    relay.restore();
    // Back in touch: without a store of its own, the replica drops nothing (the insert still waits) and is up again;
    // storing the refused intent first, its store waits on the lock behind the late insert.
    await waitUntil(async () => (await viaRelay.runner.secondary.stats()).storeUp || (await waiting()) >= 2, 20_000, 'replica back in touch');
    await afterwardsEqual(sid, [reply], () => locker.query('ROLLBACK').then(() => undefined));
  } finally {
    await Promise.all([locker.end(), observer.end()]);
  }
}, 120_000);
