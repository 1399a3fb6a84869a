/** stillLanding: what a key's next write waits for after its primary call failed, and the bound on that wait. */
import { expect, it } from 'vitest';
import { LegError } from '../../src/legs/types.js';
import { stillLanding } from '../../src/plan/outcome.js';
import { LateTranslation } from '../../src/plan/sides.js';

/** A promise with its settling exposed, and whether it has settled. */
function watched<T>(p: Promise<T>): { done: () => boolean } {
  let settled = false;
  void p.then(
    () => (settled = true),
    () => (settled = true),
  );
  return { done: () => settled };
}

/** A promise and the function that resolves it. */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const flush = () => new Promise((r) => setImmediate(r));
const HOUR = 3_600_000;

it('has nothing to wait for where the call never left or was refused, or no late answer can come', () => {
  expect(stillLanding(new LegError('circuit_open', 'open', 'tcp://x'), HOUR)).toBeUndefined();
  expect(stillLanding(new LegError('unavailable', 'down', 'tcp://x', new Promise(() => {})), HOUR)).toBeUndefined();
  expect(stillLanding(new Error('refused'), HOUR)).toBeUndefined();
  expect(stillLanding(new LegError('timeout', 'no reply', 'tcp://x'), HOUR)).toBeUndefined();
});

it("waits for a timed-out call's late answer", async () => {
  const late = deferred<Buffer | undefined>();
  const landing = watched(stillLanding(new LegError('timeout', 'no reply', 'tcp://x', late.promise), HOUR)!);
  await flush();
  expect(landing.done()).toBe(false);
  late.resolve(Buffer.from('{"status":"ok"}'));
  await expect.poll(landing.done).toBe(true);
});

it('waits no longer than the bound for an answer that never comes', async () => {
  const landing = watched(stillLanding(new LegError('disconnected', 'gone', 'tcp://x', new Promise(() => {})), 50)!);
  await flush();
  expect(landing.done()).toBe(false);
  await expect.poll(landing.done, { timeout: 10_000 }).toBe(true);
});

it("waits for a translation's end, then for its last call's late answer", async () => {
  const attempt = deferred<unknown>();
  const late = deferred<Buffer | undefined>();
  const err = new LateTranslation('new side gave no answer within 2000 ms', 'tcp://x', attempt.promise);
  const landing = watched(stillLanding(err, HOUR)!);
  await flush();
  expect(landing.done()).toBe(false);
  // Its last call timed out too: the translation ended, the call may still be applied.
  attempt.resolve(Promise.reject(new LegError('timeout', 'no reply', 'tcp://x', late.promise)));
  await err.settled;
  await flush();
  expect(landing.done()).toBe(false);
  late.resolve(undefined);
  await expect.poll(landing.done).toBe(true);
});
