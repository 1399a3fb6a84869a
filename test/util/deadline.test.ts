/**
 * withDeadline after this process stalled (a replica SIGSTOPped, a blocked event loop): Node runs due timers before it
 * reads what arrived meanwhile on other connections, so an answer waiting unread was taken for a silent peer (`npm run
 * chaos` with paused replicas: an intent's insert counted the store away, the write was held in memory and stored
 * after a later one of its key).
 */
import { spawn } from 'node:child_process';
import { expect, it } from 'vitest';
import { withDeadline } from '../../src/util/deadline.js';
import { stallSoon } from '../support/stall.js';

it('takes an answer that arrived while the process stalled past the deadline', async () => {
  for (let i = 0; i < 3; i++) {
    // Another process answers 100 ms from now, on a pipe of its own: while this one is stalled.
    const child = spawn('sh', ['-c', `sleep 0.1; echo answer ${i}`]);
    const answer = new Promise((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim())));
    const bounded = withDeadline(answer, 300, () => new Error('no answer'));
    await stallSoon(1_500);
    await expect(bounded).resolves.toBe(`answer ${i}`);
  }
});

it('still gives up on a side that never answers, stalled or not', async () => {
  const silent = new Promise(() => undefined);
  const stalled = withDeadline(silent, 200, () => new Error('no answer'));
  await stallSoon(800);
  await expect(stalled).rejects.toThrow('no answer');
  await expect(withDeadline(silent, 200, () => new Error('no answer'))).rejects.toThrow('no answer');
});
