/**
 * The state store cut while a session's copy is on the orchestrator: the orchestrator made the session, but the id map
 * could not take its mapping. The copy, retried once the store is back, maps that session rather than make a second
 * (left behind empty before: `store-down.test.ts` counted such a session as a write applied twice).
 */
import { expect, it } from 'vitest';
import { requestOnce } from '../support/zmq-client.js';
import { useRelayedStack } from './relayed.js';
import { newRecords, openRows, sleep, waitUntil } from './support.js';

const stack = useRelayedStack();
const SID = 'id-map-cut';

it('makes one orchestrator session when the store goes away between its making and its mapping', async () => {
  const [sims, proxy, url, relay] = [stack.sims(), stack.proxy(), stack.url(), stack.relay()];
  const send = async (request: unknown) =>
    JSON.parse((await requestOnce(proxy.fronts['session-memory']!, request, 15_000)).toString('utf8')) as Record<string, unknown>;
  // Each orchestrator call takes 1 s (within its 2 s deadline): the copy looks the key up in the id map at once, then
  // waits on the orchestrator, and the store is cut halfway.
  await sims.applyFaults('orchestrator', { latencyMs: 1_000 });
  expect(await send({ action: 'create_session', session_id: SID, user_id: 'u' })).toMatchObject({ status: 'success' });
  await sleep(500);
  relay.cut();
  await waitUntil(() => newRecords(sims, SID).sessions === 1, 20_000, 'the session made on the orchestrator');
  await sleep(1_000);
  await sims.applyFaults('orchestrator', { latencyMs: 0 });
  relay.restore();
  expect(await send({ action: 'add_interaction', session_id: SID, role: 'user', content: 'one' })).toMatchObject({ status: 'success' });
  await proxy.runner.secondary.drain();
  await waitUntil(async () => (await openRows(url)).open === 0, 30_000, 'outbox drained');
  // Before: { sessions: 2, contents: ['one'] }, the first session empty.
  expect(newRecords(sims, SID)).toEqual({ sessions: 1, contents: ['one'] });
}, 60_000);
