/**
 * A session's copy whose create_session the orchestrator answers after the call's deadline: the copy, tried again,
 * maps the session that late answer names rather than make a second (left behind empty before: the orchestrator
 * cannot be asked for a session by its legacy id, and `orchestrator-down.test.ts` counted such ones as writes twice).
 */
import { expect, it } from 'vitest';
import { requestOnce } from '../support/zmq-client.js';
import { newRecords, openRows, useDualWriteStack, waitUntil } from './support.js';

const stack = useDualWriteStack();
const SID = 'late-session';

it('maps the session a create_session answered after its deadline made, and makes no second one', async () => {
  const [sims, proxy, url] = [stack.sims(), stack.proxies()[0]!, stack.url()];
  const send = async (request: unknown) =>
    JSON.parse((await requestOnce(proxy.fronts['session-memory']!, request, 15_000)).toString('utf8')) as Record<string, unknown>;
  // Past the orchestrator's 2 s deadline: the copy's create_session times out, and is answered 0.6 s after that.
  await sims.applyFaults('orchestrator', { latencyMs: 2_600 });
  expect(await send({ action: 'create_session', session_id: SID, user_id: 'u' })).toMatchObject({ status: 'success' });
  await waitUntil(() => newRecords(sims, SID).sessions > 0, 20_000, 'the late create_session applied');
  await sims.applyFaults('orchestrator', { latencyMs: 0 });
  expect(await send({ action: 'add_interaction', session_id: SID, role: 'user', content: 'one' })).toMatchObject({ status: 'success' });
  await waitUntil(async () => (await openRows(url)).open === 0, 30_000, 'outbox drained');
  // The first attempt did time out: the copy was tried again.
  expect((await proxy.runner.secondary.stats()).retries).toBeGreaterThan(0);
  // Before: { sessions: 3, contents: ['one'] }, the late ones empty (each retry's create_session timed out too).
  expect(newRecords(sims, SID)).toEqual({ sessions: 1, contents: ['one'] });
}, 60_000);
