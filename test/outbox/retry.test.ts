/** Retry decisions and the outage buffer, without a database. */
import { expect, it } from 'vitest';
import { WriteRefused } from '../../src/plan/secondary.js';
import { OutageBuffer } from '../../src/outbox/buffer.js';
import { backoffMs, decide } from '../../src/outbox/retry.js';
import { LegError } from '../../src/legs/types.js';
import { OrchestratorError } from '../../src/services/types.js';

const policy = { baseBackoffMs: 100, maxBackoffMs: 1_000, maxAttempts: 5, maxAgeMs: 60_000 };
const unavailable = new LegError('unavailable', 'backend disconnected', 'tcp://x');

it('doubles the backoff up to its cap and jitters it into the upper half', () => {
  expect([1, 2, 3, 4, 5, 9].map((a) => backoffMs(a, policy, () => 0.999999))).toEqual([100, 200, 400, 800, 1000, 1000]);
  expect([1, 2, 3, 4, 5].map((a) => backoffMs(a, policy, () => 0))).toEqual([50, 100, 200, 400, 500]);
});

it('retries what a replay can fix and parks the rest with its reason', () => {
  const fresh = { attempts: 1, createdAt: new Date() };
  const retry = decide(fresh, unavailable, policy);
  expect(retry.park).toBe(false);
  expect(retry.delayMs).toBeGreaterThanOrEqual(50);
  expect(retry.error).toBe('unavailable: backend disconnected');
  expect(decide(fresh, new OrchestratorError('internal_error', 'boom'), policy).park).toBe(false);

  expect(decide(fresh, new OrchestratorError('validation_error', 'bad tags'), policy)).toMatchObject({
    park: true,
    error: 'orchestrator validation_error: bad tags',
  });
  const refused = new WriteRefused({ side: 'legacy', bytes: Buffer.from('{"status": "error"}'), value: { status: 'error' }, latencyMs: 1 });
  expect(decide(fresh, refused, policy).park).toBe(true);
  expect(decide({ attempts: 5, createdAt: new Date() }, unavailable, policy)).toMatchObject({ park: true, error: expect.stringContaining('after 5 attempts') });
  expect(decide({ attempts: 2, createdAt: new Date(Date.now() - 61_000) }, unavailable, policy)).toMatchObject({
    park: true,
    error: expect.stringContaining('older than'),
  });
});

it('holds intents oldest first up to its bound and counts what it refuses', () => {
  const b = new OutageBuffer<number>(3);
  expect([1, 2, 3, 4, 5].map((n) => b.push(n))).toEqual([true, true, true, false, false]);
  expect(b.overflowed).toBe(2);
  expect(b.peekMany(2)).toEqual([1, 2]);
  b.shiftMany(2);
  expect(b.push(6)).toBe(true);
  expect([b.size, b.peek()]).toEqual([2, 3]);
  expect(b.peekMany(10)).toEqual([3, 6]);
});
