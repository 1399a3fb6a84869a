/**
 * A clear its agent was told had failed (the primary's call timed out): whether the primary applied it is looked up
 * like any write of unknown outcome, by what the key holds there now, not taken as applied. Taken as applied, a clear
 * the primary never had (a restart lost it queued) emptied the secondary of the acknowledged writes the primary kept.
 */
import { afterEach, expect, it } from 'vitest';
import type { SimTarget } from '../../src/tools/sim/index.js';
import { startMigrationStack, type MigrationStack } from '../support/migration.js';
import { ReqClient } from '../support/zmq-client.js';
import { drained, JARVIS_DUAL_WRITE, JARVIS_NEW_PRIMARY, memoriesOnBothSides, numberedMemories, writeMemories } from './unknown-support.js';
import { sleep, waitUntil } from './support.js';

const JARVIS = 'jarvis-memory';

let stack: MigrationStack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

/** A request of `target`'s own shape, answered by every service: a health check. */
const HEALTH: Record<string, unknown> = { action: 'health_check' };

/**
 * The agent's clear_memories while `target` hangs, answered with an error (the leg's timeout). With `lost`, a request
 * of another client is in the service's hands first and the clear waits queued behind it when the service restarts:
 * the clear is lost with the process. Without, the service resumes and applies it late.
 */
async function clearUnknown(s: MigrationStack, target: SimTarget, user: string, lost: boolean): Promise<void> {
  await s.sims.applyFaults(target, { hang: true });
  // Its reply never comes (the service restarts with it in hand): the wait for it is short.
  const other = new ReqClient(s.sims.endpoints[target], 1_000);
  const agent = new ReqClient(s.proxy.fronts[JARVIS]!, 30_000);
  try {
    const inHand = lost ? other.call(HEALTH).catch(() => undefined) : undefined;
    await sleep(200);
    const reply = await agent.call({ action: 'clear_memories', user_id: user });
    expect(reply).toMatchObject({ status: 'error' });
    if (lost) await s.sims.down(target);
    await s.sims.applyFaults(target, { hang: false });
    if (lost) await s.sims.up(target);
    await inHand;
  } finally {
    other.close();
    agent.close();
  }
}

it.each([
  ['legacy primary', JARVIS_DUAL_WRITE, JARVIS],
  ['orchestrator primary', JARVIS_NEW_PRIMARY, 'orchestrator'],
] as const)(
  '%s: a clear lost unapplied leaves both sides holding the acknowledged writes',
  async (_name, edits, target) => {
    stack = await startMigrationStack(edits);
    const s = stack;
    expect(await writeMemories(s, 'clr-lost', 0, 2)).toEqual([0, 1]);
    await drained(s);
    await clearUnknown(s, target, 'clr-lost', true);
    // The service just restarted: the agent's write is refused until the leg takes it for back (its breaker).
    await waitUntil(async () => (await writeMemories(s, 'clr-lost', 2, 1)).length === 1, 30_000, 'a write acknowledged after the restart');
    await drained(s);
    const { legacy, fresh } = await memoriesOnBothSides(s, 'clr-lost');
    expect(legacy).toEqual(numberedMemories('clr-lost', [0, 1, 2]));
    expect(fresh).toEqual(legacy);
  },
  90_000,
);

it.each([
  ['legacy primary', JARVIS_DUAL_WRITE, JARVIS],
  ['orchestrator primary', JARVIS_NEW_PRIMARY, 'orchestrator'],
] as const)(
  '%s: a clear applied late clears both sides, and the writes after it stay',
  async (_name, edits, target) => {
    stack = await startMigrationStack(edits);
    const s = stack;
    expect(await writeMemories(s, 'clr-late', 0, 2)).toEqual([0, 1]);
    await drained(s);
    await clearUnknown(s, target, 'clr-late', false);
    expect(await writeMemories(s, 'clr-late', 2, 1)).toEqual([2]);
    await drained(s);
    const { legacy, fresh } = await memoriesOnBothSides(s, 'clr-late');
    expect(fresh).toEqual(numberedMemories('clr-late', [2]));
    expect(legacy).toEqual(fresh);
  },
  90_000,
);
