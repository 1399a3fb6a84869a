/**
 * A ZeroMQ leg in a process that was paused (a replica SIGSTOPped, a stalled event loop) while its backend answered:
 * Node runs due timers before it reads what arrived meanwhile, so the leg's own timer took a reply waiting unread for
 * a silent backend, and an agent was told its applied write had failed (`npm run chaos` with paused replicas).
 */
import { afterEach, expect, it } from 'vitest';
import { createLeg, type Leg } from '../../src/legs/index.js';
import { stallSoon } from '../support/stall.js';
import { failureOf, startPythonRep, startRep } from './backends.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function leg(endpoint: string): Leg {
  const l = createLeg(endpoint, { timeoutMs: 300, breaker: { failureThreshold: 1_000, openMs: 1_000 } });
  cleanups.push(() => l.close());
  return l;
}

it('takes a reply that arrived while this process stalled past the call timeout', async () => {
  // Python's REP answers in a process of its own, while this one is stalled.
  const rep = await startPythonRep();
  cleanups.push(() => rep.close());
  const l = leg(rep.endpoint);
  expect((await l.call('warm')).toString()).toBe('warm');
  for (let i = 0; i < 3; i++) {
    const call = l.call(`w${i}`);
    await stallSoon(1_500);
    expect((await call).toString()).toBe(`w${i}`);
  }
  expect(l.stats()).toMatchObject({ failed: 0 });
}, 30_000);

it('still times out a call its backend holds, stalled or not', async () => {
  const rep = await startRep();
  cleanups.push(() => rep.close());
  const l = leg(rep.endpoint);
  expect((await l.call('warm')).toString()).toBe('warm');
  const stalled = failureOf(l.call('hold:1'));
  await stallSoon(1_000);
  expect(await stalled).toBe('timeout');
  expect(await failureOf(l.call('hold:2'))).toBe('timeout');
});
