/**
 * How long a write's answer waits for its copy about a turn (Turns.copyWaitMs, outbox.turnCopyWaitMs): only while the
 * replicas may serve the service at two stages (this one turned lately, or another publishes another stage) and another
 * replica may serve the agent; never for a replica alone, a stage held since the start, or a turn long past. The clock
 * is the test's own. And the answer's wait itself (copyLanding): until the copy's `done`, or the bound if it never comes.
 */
import { afterEach, expect, it } from 'vitest';
import { copyLanding } from '../../src/plan/turned.js';
import { Turns, type TurnFleet } from '../../src/plan/turns.js';

const S = 'jarvis-memory' as const;
const WATCH_MS = 10_000;
const WAIT_MS = 250;

let turns: Turns | undefined;
afterEach(() => turns?.close());

/** Turns over a fleet of `peers` others, `apart` or not, with a clock the test moves. */
function turnsWith(fleet: { peers: number; apart?: boolean }, copyWaitMs = WAIT_MS): { turns: Turns; at: { now: number } } {
  const at = { now: 1_000_000 };
  const f: TurnFleet = { peers: () => fleet.peers, apart: () => fleet.apart === true, copyWaitMs };
  turns = new Turns(
    async () => false,
    [S],
    WATCH_MS,
    'refuse',
    f,
    () => at.now,
  );
  return { turns, at };
}

it('waits after a turn, while the least watch of it lasts, where another replica may serve the agent', () => {
  const { turns: t, at } = turnsWith({ peers: 1 });
  t.lagging(S, 'legacy', 'legacy');
  // The stage held since the start: no turn, nothing to wait for.
  expect(t.copyWaitMs(S)).toBe(0);
  at.now += 60_000;
  t.lagging(S, 'new', 'new');
  expect(t.copyWaitMs(S)).toBe(WAIT_MS);
  at.now += WATCH_MS - 1;
  expect(t.copyWaitMs(S)).toBe(WAIT_MS);
  at.now += 1;
  expect(t.copyWaitMs(S)).toBe(0);
  // Back again (the guard's rollback): a turn too.
  t.lagging(S, 'legacy', 'legacy');
  expect(t.copyWaitMs(S)).toBe(WAIT_MS);
});

it('waits while another live replica publishes another stage, turned here or not', () => {
  const fleet = { peers: 1, apart: true };
  const { turns: t } = turnsWith(fleet);
  t.lagging(S, 'legacy', 'legacy');
  expect(t.copyWaitMs(S)).toBe(WAIT_MS);
  fleet.apart = false;
  expect(t.copyWaitMs(S)).toBe(0);
});

it('does not wait for a replica alone, nor with the wait switched off', () => {
  const alone = { peers: 0, apart: true };
  const { turns: t } = turnsWith(alone);
  t.lagging(S, 'legacy', 'legacy');
  t.lagging(S, 'new', 'new');
  expect(t.copyWaitMs(S)).toBe(0);
  // Another replica comes: the turn is still recent.
  alone.peers = 1;
  expect(t.copyWaitMs(S)).toBe(WAIT_MS);
  t.close();
  const { turns: off } = turnsWith({ peers: 1, apart: true }, 0);
  off.lagging(S, 'legacy', 'legacy');
  off.lagging(S, 'new', 'new');
  expect(off.copyWaitMs(S)).toBe(0);
});

it("answers once the copy's done comes, and without it once the wait is up", async () => {
  const { turns: t } = turnsWith({ peers: 1, apart: true }, 300);
  const order: string[] = [];
  const landing = copyLanding(() => order.push('ended'));
  const answered = landing.answer(t, S, Promise.resolve('reply')).then((r) => order.push(`answered ${r}`));
  await new Promise((resolve) => setTimeout(resolve, 100));
  expect(order).toEqual([]);
  landing.done();
  await answered;
  expect(order).toEqual(['ended', 'answered reply']);
  // Never done (the copy's side hung): answered all the same, after the wait.
  const started = performance.now();
  expect(await copyLanding(() => undefined).answer(t, S, Promise.resolve('late'))).toBe('late');
  expect(performance.now() - started).toBeGreaterThanOrEqual(290);
});
