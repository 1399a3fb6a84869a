/**
 * A write whose intent's insert tells of its key's copies on their way to the side it goes to first, after the turn's
 * own question about them found no answer (the store slow a moment after a pause: chaos seed 135, two replicas, a
 * write of one went to the orchestrator ahead of the other's copy there). The insert's answer stands: the write waits
 * for those copies, and while the store cannot tell whether they landed, they count as on their way.
 */
import { afterEach, expect, it } from 'vitest';
import { KeyActivity } from '../../src/plan/key-activity.js';
import type { FlagDecision } from '../../src/plan/plan.js';
import type { SecondaryWrites } from '../../src/plan/secondary.js';
import { Runner } from '../../src/plan/runner.js';
import { Turns } from '../../src/plan/turns.js';
import type { MigrationStats } from '../../src/plan/totals.js';
import type { ExecutionObserver } from '../../src/plan/observer.js';
import type { SideOptions } from '../../src/plan/sides.js';
import { routeOf, sidesOf } from './turn-deps.js';

const S = 'jarvis-memory' as const;
const DUAL: FlagDecision = { killSwitch: false, dualWrite: true, shadowRead: false, readNew: false, newPrimary: false, legacyOff: false };

let turns: Turns | undefined;
afterEach(() => turns?.close());

/**
 * A runner over a scripted store and legacy: the store answers no question about a key until `tells`, and then that
 * the key's copies are on their way until `landed`; every intent's insert says copies are ahead. `events` has the
 * store's changes and legacy's calls in their order.
 */
function runnerOf() {
  const store = { tells: false, landed: false, settled: [] as string[] };
  const events: string[] = [];
  const ask = async (_s: unknown, _k: string, _side: string, unknown = false) => (store.tells ? !store.landed : unknown);
  const secondary = {
    open: async () => ({ writeId: 'w', behindCopies: true as const, settle: (o: unknown) => store.settled.push(String(o)) }),
    copying: ask,
    lacks: ask,
    unlanded: ask,
    anyUnlanded: async () => Promise.reject(new Error('store away')),
  } as unknown as SecondaryWrites;
  // A replica just started watches each side until its poll finds nothing queued there: its writes ask first.
  turns = new Turns((s, side) => secondary.anyUnlanded(s, side), [S], 0);
  const scripted = sidesOf();
  const legacy = {
    ...scripted.legacy,
    endpoint: 'legacy',
    timeoutMs: 2_000,
    connection: () => 1,
    call: async () => (events.push('legacy called'), Buffer.from('{"status": "success", "memory_id": "m1"}')),
  };
  const sides = { ...scripted, legacy } as unknown as SideOptions;
  const quiet = new Proxy({}, { get: () => () => undefined }) as ExecutionObserver;
  const runner = new Runner({
    decide: () => DUAL,
    sides: () => sides,
    successRules: () => [{ path: 'status', equals: 'success' }],
    comparisonRules: () => ({}) as never,
    activity: new KeyActivity(),
    secondary,
    observer: quiet,
    stats: {} as MigrationStats,
    translators: {},
    turns,
  });
  const change = (what: Partial<typeof store>, event: string) => (Object.assign(store, what), events.push(event));
  return { store, events, change, run: () => runner.run(routeOf(S, { action: 'add_memory', user_id: 'u1', memory: 'm' })) };
}

it('waits for the copies the insert told of when the turn could not ask about them', async () => {
  const { events, change, run } = runnerOf();
  const timers = [
    setTimeout(() => change({ tells: true }, 'store answers: copies on their way'), 300),
    setTimeout(() => change({ landed: true }, 'copies landed'), 800),
  ];
  try {
    await run();
  } finally {
    timers.forEach(clearTimeout);
  }
  // Before, the turn's question unanswered counted as asked: legacy was written at once, ahead of the copies.
  expect(events).toEqual(['store answers: copies on their way', 'copies landed', 'legacy called']);
});

it('refuses the write, unsent, when the store cannot tell within the wait whether those copies landed', async () => {
  const { store, events, run } = runnerOf();
  await expect(run()).rejects.toThrow(/still on their way/);
  // Before, a store that could not tell counted as copies landed: legacy was written ahead of them.
  expect(events).toEqual([]);
  expect(store.settled).toEqual(['refused']);
});
