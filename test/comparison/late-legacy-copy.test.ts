/**
 * Shadow reads at new-primary after a write reached legacy late: the deployed JarvisMemoryAgent restarts often
 * (PROTOCOLS.md 1.3), the outbox delivers the write once it is back, and legacy stamps it then, seconds after the
 * orchestrator's time. Legacy's times there say when a write reached it, not the record's: every later read of the
 * key must still compare alike, or the guard would count each one a mismatch and roll the service back. A content
 * difference still counts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { flagName } from '../../src/flags/names.js';
import { on, rollout } from '../flags/helpers.js';
import { ReqClient } from '../support/zmq-client.js';
import { startMigrationStack, type MigrationStack } from '../support/migration.js';

const S = 'jarvis-memory' as const;
/** Longer than shadow.timeToleranceS (1 s) by far. */
const AWAY_MS = 2_500;

let stack: MigrationStack;
let agent: ReqClient;
beforeAll(async () => {
  stack = await startMigrationStack();
  await stack.setFlags({ ...on(flagName(S, 'dual-write'), flagName(S, 'new-primary')), ...rollout(flagName(S, 'shadow-read'), 100) });
  agent = new ReqClient(stack.proxy.fronts[S]!, 10_000);
});
afterAll(async () => {
  agent?.close();
  await stack?.close();
});

type Memories = { memories: { memory: unknown; timestamp: number }[] };
const stats = () => stack.proxy.runner.stats.of(S);

/** Reads the user `reads` times through memshift; resolves with the mismatches counted meanwhile, once all are compared. */
async function mismatchesOver(user: string, reads: number): Promise<number> {
  const before = { ...stats() };
  for (let i = 0; i < reads; i++) expect(await agent.call({ action: 'get_memories', user_id: user })).toMatchObject({ status: 'ok' });
  await expect.poll(() => stats().compared - before.compared, { timeout: 30_000 }).toBe(reads);
  return stats().mismatches - before.mismatches;
}

it('compares a key alike on every read after its write reached legacy seconds late', async () => {
  const user = 'late-copy';
  expect(await agent.call({ action: 'add_memory', user_id: user, memory: 'first' })).toMatchObject({ status: 'ok' });
  await stack.proxy.runner.secondary.drain();
  await stack.sims.down(S);
  expect(await agent.call({ action: 'add_memory', user_id: user, memory: 'while away' })).toMatchObject({ status: 'ok' });
  await sleep(AWAY_MS);
  await stack.sims.up(S);
  await expect.poll(() => (stack.readLegacy(S, { action: 'get_memories', user_id: user }) as Memories).memories.length, { timeout: 30_000 }).toBe(2);
  // The copy is late: legacy's time is past the orchestrator's by more than the tolerance.
  const [legacy, neu] = [
    stack.readLegacy(S, { action: 'get_memories', user_id: user }),
    await stack.readNew(S, { action: 'get_memories', user_id: user }),
  ] as Memories[];
  expect(legacy!.memories.map((m) => m.memory)).toEqual(['first', 'while away']);
  expect(neu!.memories.map((m) => m.memory)).toEqual(['first', 'while away']);
  expect(legacy!.memories[1]!.timestamp - neu!.memories[1]!.timestamp).toBeGreaterThan(2);

  expect(await mismatchesOver(user, 5)).toBe(0);

  // What the comparison is for still shows: a memory the orchestrator stored otherwise.
  const other = 'late-copy-diverged';
  await stack.sims.applyFaults('orchestrator', { divergence: { rate: 1, mode: 'alter' } });
  try {
    expect(await agent.call({ action: 'add_memory', user_id: other, memory: 'both' })).toMatchObject({ status: 'ok' });
  } finally {
    await stack.sims.applyFaults('orchestrator', { divergence: { rate: 0 } });
  }
  await stack.proxy.runner.secondary.drain();
  expect(await mismatchesOver(other, 3)).toBe(3);
}, 120_000);
