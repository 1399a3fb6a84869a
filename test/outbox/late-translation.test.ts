/**
 * A translation that goes on past the new side's deadline: at new-primary (and complete) a delete_session whose first call
 * (bulk_delete) answers slowly sends its second (end_session) after the agent was told timeout, then drops the
 * session's mapping. The agent, told timeout, makes the session again and writes to it: that must not overtake
 * the delete still under way (it would land in the session being ended, whose mapping is then dropped, and the
 * agent's next read from new would not see it).
 */
import { describe, expect, it } from 'vitest';
import { serviceSnapshot } from '../../src/flags/source.js';
import { requestOnce } from '../support/zmq-client.js';
import { useRelayedStack } from './relayed.js';
import { legacyContents, openRows, waitUntil } from './support.js';

describe.each([
  { stage: 'new-primary', more: ['new-primary'] },
  { stage: 'complete', more: ['new-primary', 'legacy-off'] },
])('at $stage', ({ stage, more }) => {
  const stack = useRelayedStack(more);

  const send = async (request: unknown) =>
    JSON.parse((await requestOnce(stack.proxy().fronts['session-memory']!, request, 15_000)).toString('utf8')) as Record<string, unknown>;

  it("keeps a key's next writes behind a translation still under way after its deadline", async () => {
    const [sims, proxy, flags, url] = [stack.sims(), stack.proxy(), stack.flags(), stack.url()];
    const sid = 'late-delete';
    expect(await send({ action: 'create_session', session_id: sid, user_id: 'u' })).toMatchObject({ status: 'success' });
    expect(await send({ action: 'add_interaction', session_id: sid, role: 'user', content: 'one' })).toMatchObject({ status: 'success' });
    // Each orchestrator call takes 1.2 s: the second of the delete goes out before the 2 s deadline, answers after it.
    await sims.applyFaults('orchestrator', { latencyMs: 1_200 });
    const deleted = await send({ action: 'delete_session', session_id: sid });
    await sims.applyFaults('orchestrator', { latencyMs: 0 });
    expect(deleted).toMatchObject({ status: 'error', message: expect.stringContaining('timeout') });
    // The agent, told its delete timed out, starts the session over.
    expect(await send({ action: 'create_session', session_id: sid, user_id: 'u' })).toMatchObject({ status: 'success' });
    expect(await send({ action: 'add_interaction', session_id: sid, role: 'user', content: 'two' })).toMatchObject({ status: 'success' });
    await proxy.runner.secondary.drain();
    await waitUntil(async () => (await openRows(url)).open === 0, 20_000, 'outbox drained');

    if (stage === 'new-primary') expect(legacyContents(sims, sid)).toEqual(['two']);
    else expect(serviceSnapshot(flags.snapshot(), 'session-memory').stage).toBe('complete');
    const context = await send({ action: 'get_context', session_id: sid });
    expect(context).toMatchObject({ status: 'success', context: [expect.objectContaining({ content: 'two' })] });
  }, 60_000);
});
