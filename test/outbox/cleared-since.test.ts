/**
 * A write its agent was told had failed (the orchestrator, its primary, hung), then the agent's clear made first on
 * legacy after the turn back to it: the orchestrator applies the write late, before the clear's copy, so the clear
 * empties it there; legacy, cleared first, must not get the write copied after the clear (it would hold it alone).
 */
import { afterEach, expect, it } from 'vitest';
import { startMigrationStack, type MigrationStack } from '../support/migration.js';
import { ReqClient } from '../support/zmq-client.js';
import { drained, JARVIS_DUAL_WRITE, JARVIS_NEW_PRIMARY, memoriesOnBothSides, numberedMemories, writeMemories } from './unknown-support.js';

let stack: MigrationStack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

it('a write whose outcome was unknown is not copied after a clear made since on the side it goes to', async () => {
  stack = await startMigrationStack(JARVIS_NEW_PRIMARY);
  const s = stack;
  const user = 'clr-since';
  expect(await writeMemories(s, user, 0, 1)).toEqual([0]);
  await drained(s);
  await s.sims.applyFaults('orchestrator', { hang: true });
  try {
    // The orchestrator holds it unanswered: the agent is told of an error, and the orchestrator applies it on resuming.
    expect(await writeMemories(s, user, 1, 1, 20_000)).toEqual([]);
    await s.setFlags(JARVIS_DUAL_WRITE);
    const agent = new ReqClient(s.proxy.fronts['jarvis-memory']!, 20_000);
    try {
      expect(await agent.call({ action: 'clear_memories', user_id: user })).toMatchObject({ status: 'ok' });
    } finally {
      agent.close();
    }
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
