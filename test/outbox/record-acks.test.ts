/**
 * The runner records its own writes' primary success while their copies wait, one statement at a time: a store that
 * does not answer holds one connection for it, not one per round (every 250 ms); once it answers, the writes
 * acknowledged meanwhile are recorded in the next. The store here is a fake whose claims never answer (copies wait).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from 'vitest';
import { OutboxRunner } from '../../src/outbox/runner.js';
import type { OutboxTable } from '../../src/outbox/table.js';
import type { Resolver } from '../../src/outbox/resolve.js';
import type { ExecutionObserver } from '../../src/plan/observer.js';

it('records acknowledgements one statement at a time while the store does not answer, and those made meanwhile after it', async () => {
  const statements: string[][] = [];
  let answer!: () => void;
  const stalled = new Promise<void>((r) => (answer = r));
  const table = {
    claimKeys: () => new Promise(() => undefined),
    markApplied: async (acks: { id: string }[]) => {
      statements.push(acks.map((a) => a.id));
      await stalled;
    },
  } as unknown as OutboxTable;
  const runner = new OutboxRunner({
    table,
    apply: () => Promise.reject(new Error('not sent here')),
    resolver: {} as Resolver,
    observer: {} as ExecutionObserver,
    owner: 'record-acks',
    services: ['contextual-memory'],
    policy: { baseBackoffMs: 100, maxBackoffMs: 1_000, maxAttempts: 5, maxAgeMs: 60_000 },
    leaseMs: 30_000,
    pollMs: 250,
    batch: 10,
    retainDoneMs: 60_000,
    onStoreError: () => undefined,
    ownerGoneMs: 3_000,
  });
  const ids = Array.from({ length: 8 }, (_, i) => `0000000${i}-0000-4000-8000-000000000000`);
  for (const id of ids) {
    runner.opened('contextual-memory', 'k', id, 'new', () => undefined, undefined, false);
    runner.settled('contextual-memory', 'k', id, 'applied');
    await sleep(150);
  }
  // 1.2 s of acknowledgements, the first statement still under way: no second one beside it.
  expect(statements.length).toBe(1);
  answer();
  await expect.poll(() => statements.length, { timeout: 10_000 }).toBe(2);
  expect(statements.flat().sort()).toEqual(ids);
});
