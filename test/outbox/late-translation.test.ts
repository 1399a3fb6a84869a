/**
 * A translation that goes on past the new side's deadline: a delete_session whose first call (bulk_delete) answers
 * slowly sends its second (end_session) after the deadline, then drops the session's mapping. At new-primary (and
 * complete) the agent, told timeout, makes the session again and writes to it; at dual-write the agent is answered
 * by legacy and goes on with the session at once. Either way the key's next writes must not overtake the delete
 * still under way on new (they would land in the session being ended, whose mapping is then dropped, and a read
 * from new would not see them).
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { serviceSnapshot } from '../../src/flags/source.js';
import { requestOnce } from '../support/zmq-client.js';
import { useRelayedStack } from './relayed.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
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

describe.each([
  { secondary: 'durable', enabled: true },
  { secondary: 'in memory', enabled: false },
])('at dual-write, secondary writes $secondary', ({ enabled }) => {
  const stack = useRelayedStack([], { config: { outbox: { enabled } } });

  const send = async (request: unknown) =>
    JSON.parse((await requestOnce(stack.proxy().fronts['session-memory']!, request, 15_000)).toString('utf8')) as Record<string, unknown>;
  const settle = async () => {
    await stack.proxy().runner.secondary.drain();
    await waitUntil(async () => (await openRows(stack.url())).open === 0, 20_000, 'outbox drained');
  };

  it("keeps a key's next secondary writes behind a translation still under way after its deadline", async () => {
    const sims = stack.sims();
    const sid = 'late-delete-dual';
    expect(await send({ action: 'create_session', session_id: sid, user_id: 'u' })).toMatchObject({ status: 'success' });
    expect(await send({ action: 'add_interaction', session_id: sid, role: 'user', content: 'one' })).toMatchObject({ status: 'success' });
    await settle();
    // Each orchestrator call takes 1.2 s: the delete's end_session answers after the 2 s deadline.
    await sims.applyFaults('orchestrator', { latencyMs: 1_200 });
    expect(await send({ action: 'delete_session', session_id: sid })).toMatchObject({ status: 'success' });
    expect(await send({ action: 'create_session', session_id: sid, user_id: 'u' })).toMatchObject({ status: 'success' });
    expect(await send({ action: 'add_interaction', session_id: sid, role: 'user', content: 'two' })).toMatchObject({ status: 'success' });
    await settle();
    await sims.applyFaults('orchestrator', { latencyMs: 0 });

    expect(legacyContents(sims, sid)).toEqual(['two']);
    expect(await mappedSession(sims, stack.url(), sid)).toEqual({ ended: false, contents: ['two'] });
  }, 60_000);
});

/** The orchestrator session the id map gives the legacy session (what a read from new uses): ended or not, and its conversation. */
async function mappedSession(sims: SimHandle, url: string, sid: string): Promise<{ ended: boolean; contents: string[] } | undefined> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ id: string }>(
      "SELECT orchestrator_session_id AS id FROM id_map WHERE service = 'session-memory' AND legacy_key = $1",
      [sid],
    );
    const o = sims.models.orchestrator;
    const session = rows[0] && o.sessions.get(rows[0].id);
    if (!session) return undefined;
    const contents = [...o.memories.values()]
      .filter((m) => m.session_id === session.session_id && m.is_active && m.memory_type === 'conversation')
      .sort((a, b) => a.seq - b.seq)
      .map((m) => String(m.content.text));
    return { ended: session.ended_at !== null, contents };
  } finally {
    await client.end();
  }
}
