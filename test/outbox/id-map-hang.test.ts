/**
 * At new-primary, a session whose id map entry this replica has not cached while the state store hangs (a relay in
 * front of PostgreSQL, frozen). Left waiting, the look-up would send the write on after the agent was told timeout,
 * once the store answered: after the key's later writes (the orchestrator then holds them in another order than
 * legacy) and perhaps after the outbox looked it up (a write legacy never gets). Bounded, the write is refused
 * unsent, with the store named, and nothing of it reaches either side.
 */
import { expect, it } from 'vitest';
import type { Proxy } from '../../src/proxy.js';
import { requestOnce } from '../support/zmq-client.js';
import { useRelayedStack } from './relayed.js';
import { describeOpenRows, legacyContents, newRecords, openRows, sleep, waitUntil } from './support.js';

const stack = useRelayedStack(['new-primary'], { direct: true });

const send = async (proxy: Proxy, request: unknown) =>
  JSON.parse((await requestOnce(proxy.fronts['session-memory']!, request, 15_000)).toString('utf8')) as { status: string; message?: string };

it('refuses a write unsent when the store does not answer its session look-up, and keeps both sides equal', async () => {
  const [sims, viaRelay, direct, url, relay] = [stack.sims(), stack.proxy(), stack.direct(), stack.url(), stack.relay()];
  const sid = 'id-map-hang';
  // Made through the other replica, so this one has not cached the session's mapping.
  expect(await send(direct, { action: 'create_session', session_id: sid, user_id: 'u' })).toMatchObject({ status: 'success' });
  expect(await send(direct, { action: 'add_interaction', session_id: sid, role: 'user', content: 'before' })).toMatchObject({ status: 'success' });
  relay.freeze();
  const during = [];
  for (let n = 0; n < 4; n++) during.push(await send(viaRelay, { action: 'add_interaction', session_id: sid, role: 'user', content: `during #${n}` }));
  relay.thaw();
  const after = [];
  for (let n = 0; n < 4; n++) after.push(await send(viaRelay, { action: 'add_interaction', session_id: sid, role: 'user', content: `after #${n}` }));
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

  for (const reply of during) expect(reply).toMatchObject({ status: 'error', message: expect.stringContaining('state store gave no answer') });
  for (const reply of after) expect(reply).toMatchObject({ status: 'success' });
  const expected = ['before', 'after #0', 'after #1', 'after #2', 'after #3'];
  await waitUntil(() => legacyContents(sims, sid).length === expected.length, 20_000, 'legacy copies');
  expect(newRecords(sims, sid).contents).toEqual(expected);
  expect(legacyContents(sims, sid)).toEqual(expected);
}, 120_000);
