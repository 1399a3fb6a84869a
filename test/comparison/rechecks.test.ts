/** Deferred re-checks: read both sides once a skipped read's key has settled, never across a write, within budget and delay. */
import { describe, expect, it } from 'vitest';
import { KeyActivity } from '../../src/plan/key-activity.js';
import { Rechecks, type GiveUp, type RecheckDeps } from '../../src/plan/rechecks.js';
import { Observation } from '../../src/comparison/observation.js';
import type { Route } from '../../src/routes/route.js';

const route = (key: string, request: Record<string, unknown> = {}): Route =>
  ({ service: 'jarvis-memory', action: 'get_memories', key, request: { action: 'get_memories', user_id: key, ...request } }) as unknown as Route;

async function until(cond: () => boolean, ms = 5_000): Promise<void> {
  for (const deadline = Date.now() + ms; !cond();) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function harness(opts: Partial<{ maxDelayMs: number; maxPending: number }> = {}, overrides: Partial<RecheckDeps> = {}) {
  const activity = new KeyActivity();
  const compared: { key: string; covered: number }[] = [];
  const givenUp: { key: string; covered: number; why: GiveUp }[] = [];
  let reads = 0;
  const obs = (side: 'legacy' | 'new') => new Observation(side, 1, { value: { status: 'ok' } });
  const deps: RecheckDeps = {
    activity,
    keyOf: (r) => r.key!,
    unlanded: async () => false,
    readBoth: async () => {
      reads++;
      return { legacy: obs('legacy'), fresh: obs('new') };
    },
    compare: (r, _primary, reads) => ({
      agree: JSON.stringify(reads.legacy.value) === JSON.stringify(reads.fresh.value),
      report: (covered) => compared.push({ key: r.key!, covered: covered! }),
    }),
    giveUp: (r, covered, why) => givenUp.push({ key: r.key!, covered, why }),
    ...overrides,
  };
  const rechecks = new Rechecks(deps, { maxDelayMs: 5_000, maxPending: 100, concurrency: 4, ...opts });
  return { activity, rechecks, compared, givenUp, reads: () => reads };
}

describe('Rechecks', () => {
  it('waits for the key to settle, then compares once for every skipped read of the same request', async () => {
    const h = harness();
    h.activity.begin('u1');
    h.rechecks.defer(route('u1', { request_id: 'a' }), 'legacy');
    h.rechecks.defer(route('u1', { request_id: 'b' }), 'legacy');
    await new Promise((r) => setTimeout(r, 150));
    expect(h.reads()).toBe(0);
    h.activity.end('u1');
    await until(() => h.compared.length === 1);
    expect(h.compared).toEqual([{ key: 'u1', covered: 2 }]);
    expect(h.rechecks.size).toBe(0);
  });

  it('a write that begins while both sides are read voids the try: read again after it settles', async () => {
    let tries = 0;
    const h = harness(
      {},
      {
        readBoth: async () => {
          if (tries++ === 0) {
            // A write to the key arrives between the two sides' reads, and ends later.
            h.activity.begin('u2');
            setTimeout(() => h.activity.end('u2'), 50);
          }
          return { legacy: new Observation('legacy', 1, { value: 1 }), fresh: new Observation('new', 1, { value: 1 }) };
        },
      },
    );
    h.rechecks.defer(route('u2'), 'legacy');
    await until(() => h.compared.length === 1);
    // The first try's reads straddled the write: not compared; the second, after it ended, was.
    expect(tries).toBe(2);
    expect(h.givenUp).toEqual([]);
  });

  const apart = (reads: () => number) => async () => ({
    legacy: new Observation('legacy', 1, { value: { n: 0 } }),
    fresh: new Observation('new', 1, { value: { n: reads() } }),
  });

  it('sides apart while writes are held elsewhere (the outbox, another replica) wait; past the delay it is given up', async () => {
    let reads = 0;
    let lookups = 0;
    const h = harness({ maxDelayMs: 300 }, { unlanded: async () => (lookups++, true), readBoth: apart(() => ++reads) });
    h.rechecks.defer(route('u3'), 'new');
    await until(() => h.givenUp.length === 1);
    expect(h.givenUp).toEqual([{ key: 'u3', covered: 1, why: 'unsettled' }]);
    expect(h.compared).toEqual([]);
    // Read once; from then on the store is asked before reading again.
    expect(reads).toBe(1);
    expect(lookups).toBeGreaterThan(1);
  });

  it('sides that agree are a match without asking the store; sides apart with nothing held are compared at once', async () => {
    let lookups = 0;
    const agreeing = harness({}, { unlanded: async () => (lookups++, true) });
    agreeing.rechecks.defer(route('u4'), 'legacy');
    await until(() => agreeing.compared.length === 1);
    expect(lookups).toBe(0);

    let reads = 0;
    const differing = harness({}, { unlanded: async () => (lookups++, false), readBoth: apart(() => ++reads) });
    differing.rechecks.defer(route('u5'), 'legacy');
    await until(() => differing.compared.length === 1);
    expect([lookups, reads]).toEqual([1, 1]);
  });

  it('once the held writes have landed, sides still apart are compared', async () => {
    let reads = 0;
    let held = 2;
    const h = harness({}, { unlanded: async () => held-- > 0, readBoth: apart(() => ++reads) });
    h.rechecks.defer(route('u6'), 'legacy');
    await until(() => h.compared.length === 1);
    // Apart and held; held on the next look-up (not read); landed: read again, compared as they are.
    expect([reads, held]).toEqual([2, -1]);
    expect(h.givenUp).toEqual([]);
  });

  it('a skipped read that joins while the store is asked about sides apart is counted with the comparison', async () => {
    let answer!: (held: boolean) => void;
    let asked = false;
    const h = harness(
      {},
      {
        unlanded: () => ((asked = true), new Promise<boolean>((resolve) => (answer = resolve))),
        readBoth: apart(() => 1),
      },
    );
    h.rechecks.defer(route('u7', { request_id: 'a' }), 'legacy');
    await until(() => asked);
    h.rechecks.defer(route('u7', { request_id: 'b' }), 'legacy');
    answer(false);
    await until(() => h.compared.length === 1);
    // Every skipped read ends counted once: compared (two) or given up, none left over.
    expect(h.compared).toEqual([{ key: 'u7', covered: 2 }]);
    expect(h.givenUp).toEqual([]);
    expect(h.rechecks.size).toBe(0);
  });

  it('closed while a try is under way: the read is given up once, not compared as well', async () => {
    let answer!: (held: boolean) => void;
    const h = harness({}, { unlanded: () => new Promise<boolean>((resolve) => (answer = resolve)), readBoth: apart(() => 1) });
    h.rechecks.defer(route('u8'), 'legacy');
    await until(() => answer !== undefined);
    h.rechecks.close();
    answer(false);
    await new Promise((r) => setTimeout(r, 50));
    expect(h.givenUp).toEqual([{ key: 'u8', covered: 1, why: 'budget' }]);
    expect(h.compared).toEqual([]);
  });

  it('over the budget a skipped read is given up at once; a failing side gives up its re-check', async () => {
    const h = harness({ maxPending: 1 }, { readBoth: async () => Promise.reject(new Error('down')) });
    h.activity.begin('a');
    h.rechecks.defer(route('a'), 'legacy');
    h.rechecks.defer(route('b'), 'legacy');
    expect(h.givenUp).toEqual([{ key: 'b', covered: 1, why: 'budget' }]);
    h.activity.end('a');
    await until(() => h.givenUp.length === 2);
    expect(h.givenUp[1]).toEqual({ key: 'a', covered: 1, why: 'side_failed' });
  });

  it('close gives up what waits', () => {
    const h = harness();
    h.activity.begin('c');
    h.rechecks.defer(route('c'), 'legacy');
    h.rechecks.close();
    expect(h.givenUp).toEqual([{ key: 'c', covered: 1, why: 'budget' }]);
  });
});
