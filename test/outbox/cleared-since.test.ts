/**
 * Unknown outcomes on the orchestrator (hung at new-primary) around a clear, then the turn back to legacy first: a
 * write its agent was told had failed is not copied to legacy after a clear made there first since (it would outlive
 * the clear there alone), and a clear its agent was told had failed goes to legacy before the key's later writes (made
 * there first, they would be emptied from legacy by the clear's copy).
 */
import { afterEach, expect, it } from 'vitest';
import { startMigrationStack, type MigrationStack } from '../support/migration.js';
import { ReqClient } from '../support/zmq-client.js';
import { waitUntil } from './support.js';
import { drained, JARVIS_DUAL_WRITE, JARVIS_NEW_PRIMARY, memoriesOnBothSides, numberedMemories, writeMemories } from './unknown-support.js';

let stack: MigrationStack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

/** At new-primary, the user's memory #0 acknowledged and on both sides. */
async function oneMemoryAtNewPrimary(user: string): Promise<MigrationStack> {
  stack = await startMigrationStack(JARVIS_NEW_PRIMARY);
  expect(await writeMemories(stack, user, 0, 1)).toEqual([0]);
  await drained(stack);
  return stack;
}

/** The agent's clear_memories through the proxy, and its reply. */
async function clearMemories(s: MigrationStack, user: string): Promise<unknown> {
  const agent = new ReqClient(s.proxy.fronts['jarvis-memory']!, 20_000);
  try {
    return await agent.call({ action: 'clear_memories', user_id: user });
  } finally {
    agent.close();
  }
}

it('a write whose outcome was unknown is not copied after a clear made since on the side it goes to', async () => {
  const user = 'clr-since';
  const s = await oneMemoryAtNewPrimary(user);
  await s.sims.applyFaults('orchestrator', { hang: true });
  try {
    // The orchestrator holds it unanswered: the agent is told of an error, and the orchestrator applies it on resuming.
    expect(await writeMemories(s, user, 1, 1, 20_000)).toEqual([]);
    await s.setFlags(JARVIS_DUAL_WRITE);
    expect(await clearMemories(s, user)).toMatchObject({ status: 'ok' });
    expect(await writeMemories(s, user, 2, 1, 20_000)).toEqual([2]);
  } finally {
    await s.sims.applyFaults('orchestrator', { hang: false });
  }
  await drained(s);
  const { legacy, fresh } = await memoriesOnBothSides(s, user);
  expect(fresh).toEqual(numberedMemories(user, [2]));
  expect(legacy).toEqual(fresh);
  // The write was applied late on the orchestrator and looked up there: the look-up, not a refusal, dropped its copy.
  const { rows } = await s.proxy.store.pool.query(`SELECT last_error FROM outbox WHERE service = 'jarvis-memory' AND key = $1 AND status = 'dropped'`, [user]);
  expect(rows.map((r: { last_error: string }) => r.last_error)).toEqual([expect.stringContaining('later clear')]);
}, 90_000);

it('a clear whose outcome was unknown is made on the side it goes to before the writes made since', async () => {
  const user = 'clr-before';
  const s = await oneMemoryAtNewPrimary(user);
  const agent = new ReqClient(s.proxy.fronts['jarvis-memory']!, 20_000);
  try {
    await s.sims.applyFaults('orchestrator', { hang: true });
    try {
      expect(await clearMemories(s, user)).toMatchObject({ status: 'error' });
      await s.setFlags(JARVIS_DUAL_WRITE);
      // Made first on legacy now, it would land before the clear's copy, which would then empty legacy of it.
      expect(await agent.call({ action: 'add_memory', user_id: user, memory: { user, n: 1 } })).toMatchObject({
        status: 'error',
        reason: expect.stringContaining('still on their way'),
      });
    } finally {
      await s.sims.applyFaults('orchestrator', { hang: false });
    }
  } finally {
    agent.close();
  }
  await waitUntil(async () => (await writeMemories(s, user, 1, 1, 20_000)).length === 1, 30_000, 'the write acknowledged once the clear is known');
  await drained(s);
  const { legacy, fresh } = await memoriesOnBothSides(s, user);
  expect(legacy).toEqual(numberedMemories(user, [1]));
  expect(fresh).toEqual(legacy);
}, 90_000);
