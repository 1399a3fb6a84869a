/** The report verdict: roll back on any breached threshold or guard trip, hold until the evidence suffices, else advance. */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { decideVerdict, thresholdsFrom, type Thresholds, type VerdictInput } from '../../src/report/verdict.js';

const T: Thresholds = {
  mismatchRate: 0.001,
  errorRate: 0.01,
  errorMinSamples: 200,
  addedLatencyMs: 100,
  latencyMinSamples: 100,
  minComparisons: 1000,
  requireReconcile: true,
};

const clean = (over: Partial<VerdictInput> = {}): VerdictInput => ({
  stage: 'shadow',
  served: 9000,
  requests: 2100,
  compared: 2000,
  neverCompared: 0,
  tooLarge: 0,
  mismatch: 0,
  newError: 0,
  addedLatencyMs: 3,
  guardTrips: [],
  resumedAt: null,
  heldBackSince: null,
  behindSince: { legacy: null, new: null },
  reconcile: { status: 'done', remaining: 0, queued: 0 },
  assumedAfterReconcile: null,
  ...over,
});

describe('decideVerdict', () => {
  it('advances a clean shadow day to cutover', () => {
    const v = decideVerdict(clean(), T);
    expect(v.verdict).toBe('advance');
    expect(v.next).toBe('cutover');
    expect(v.reasons.join(' ')).toMatch(/2000 comparisons.*0\.00%/);
  });

  it('rolls back over the mismatch threshold, whatever the volume', () => {
    const v = decideVerdict(clean({ mismatch: 3 }), T);
    expect(v.verdict).toBe('roll back');
    expect(v.reasons[0]).toMatch(/mismatch rate 0\.15% over 0\.10% \(3 of 2000\)/);
    expect(decideVerdict(clean({ compared: 20, mismatch: 1 }), T).verdict).toBe('roll back');
  });

  it('shows a rate just over or under its limit with the decimals that tell them apart', () => {
    // 2 of 1,984 is 0.1008%: "0.10% over 0.10%" read as a rollback on no breach.
    expect(decideVerdict(clean({ mismatch: 2, compared: 1984 }), T).reasons[0]).toMatch(/^mismatch rate 0\.101% over 0\.10% \(2 of 1984\)/);
    expect(decideVerdict(clean({ mismatch: 2, compared: 2001 }), T).reasons.join(' ')).toMatch(/mismatch rate 0\.09995% \(limit 0\.10%\)/);
    expect(decideVerdict(clean({ addedLatencyMs: 100.04 }), T).reasons[0]).toBe('new side 100.04 ms slower on average (limit 100 ms)');
  });

  it('does not roll back at exactly the threshold', () => {
    expect(decideVerdict(clean({ mismatch: 2 }), T).verdict).toBe('advance');
  });

  it('rolls back when the guard tripped, naming the last trip', () => {
    const v = decideVerdict(
      clean({
        guardTrips: [
          { at: '09:10 UTC', rules: ['errorRate'] },
          { at: '14:02 UTC', rules: ['mismatchRate', 'addedLatencyMs'] },
        ],
      }),
      T,
    );
    expect(v.verdict).toBe('roll back');
    expect(v.reasons[0]).toBe('guard tripped 2 time(s), last at 14:02 UTC (mismatchRate, addedLatencyMs)');
  });

  it('holds with both sides behind, naming the way out rather than a repair of either side', () => {
    const v = decideVerdict(clean({ stage: 'new-primary', behindSince: { legacy: '2026-11-27 09:00:00 UTC', new: '2026-11-27 10:00:00 UTC' } }), T);
    expect(v.verdict).toBe('hold');
    expect(v.reasons).toEqual([expect.stringMatching(/^both sides have missed writes .* memshift reconcile --service S --repair --give-up-missed /)]);
  });

  it('still rolls back after a person resumed the guard, and says when: the day holds the time before', () => {
    const v = decideVerdict(clean({ guardTrips: [{ at: '09:10 UTC', rules: ['mismatchRate'] }], resumedAt: '11:30 UTC' }), T);
    expect(v.verdict).toBe('roll back');
    expect(v.reasons[0]).toBe(
      "guard tripped 1 time(s), last at 09:10 UTC (mismatchRate); a person resumed it at 11:30 UTC: the day's figures include the time before",
    );
  });

  it('needs the minimum samples before error rate or latency can roll back', () => {
    expect(decideVerdict(clean({ requests: 100, compared: 90, newError: 10 }), T).verdict).toBe('hold');
    const errors = decideVerdict(clean({ newError: 30 }), T);
    expect(errors.verdict).toBe('roll back');
    expect(errors.reasons[0]).toMatch(/new-side error rate 1\.43% over 1\.00%/);
    expect(decideVerdict(clean({ compared: 50, addedLatencyMs: 500 }), T).verdict).toBe('hold');
    expect(decideVerdict(clean({ addedLatencyMs: 150 }), T).reasons[0]).toMatch(/150\.0 ms slower/);
  });

  it('holds with too few comparisons, and says how many are needed', () => {
    const v = decideVerdict(clean({ compared: 400 }), T);
    expect(v.verdict).toBe('hold');
    expect(v.reasons).toEqual(['too few comparisons: 400 of the 1000 needed']);
  });

  it('says why comparisons are few when reads met writes not landed on the other side and were never compared', () => {
    const v = decideVerdict(clean({ requests: 1600, compared: 29, neverCompared: 1532 }), T);
    expect(v.verdict).toBe('hold');
    expect(v.reasons[0]).toMatch(/^too few comparisons: 29 of the 1000 needed; 1532 read\(s\) met a write .* never compared/);
    // Replies too large to compare (shadow.maxCompareBytes) are named too.
    expect(decideVerdict(clean({ compared: 300, tooLarge: 1200 }), T).reasons).toEqual([
      'too few comparisons: 300 of the 1000 needed; 1200 read(s) had replies too large to compare (shadow.maxCompareBytes)',
    ]);
  });

  it('holds while reconciliation is missing, failed or left differences', () => {
    expect(decideVerdict(clean({ reconcile: null }), T).reasons).toEqual(['no reconciliation run finished today']);
    expect(decideVerdict(clean({ reconcile: { status: 'failed', remaining: 0, queued: 0 } }), T).reasons).toEqual(['the latest reconciliation run failed']);
    expect(decideVerdict(clean({ reconcile: { status: 'done', remaining: 7, queued: 0 } }), T).reasons).toEqual(['7 reconciliation difference(s) remain']);
    // Differences whose writes had not landed yet still hold the stage back, and say so.
    expect(decideVerdict(clean({ reconcile: { status: 'done', remaining: 7, queued: 2 } }), T).reasons).toEqual([
      '7 reconciliation difference(s) remain (2 with writes still queued towards the secondary: the next run judges them again)',
    ]);
    expect(decideVerdict(clean({ reconcile: null }), { ...T, requireReconcile: false }).verdict).toBe('advance');
  });

  it('holds a clean run when a write was assumed applied after it began, until a run after it', () => {
    expect(decideVerdict(clean({ assumedAfterReconcile: '10:31 UTC' }), T)).toEqual({
      verdict: 'hold',
      reasons: [
        "a write taken over at 10:31 UTC was copied as applied with its primary's outcome unknown, after the latest reconciliation run began: " +
          'the sides may differ by it; run memshift reconcile --service S again',
      ],
    });
    expect(decideVerdict(clean({ assumedAfterReconcile: '10:31 UTC' }), { ...T, requireReconcile: false }).verdict).toBe('advance');
  });

  it('lists every reason to hold', () => {
    expect(decideVerdict(clean({ compared: 10, reconcile: null }), T).reasons).toHaveLength(2);
  });

  it('advances off to dual-write with nothing to compare or reconcile; dual-write needs reconciliation', () => {
    const off = decideVerdict(clean({ stage: 'off', requests: 0, compared: 0, reconcile: null }), T);
    expect(off).toMatchObject({ verdict: 'advance', next: 'dual-write' });
    expect(decideVerdict(clean({ stage: 'dual-write', compared: 0, reconcile: null }), T).verdict).toBe('hold');
    expect(decideVerdict(clean({ stage: 'dual-write', compared: 0 }), T)).toMatchObject({ verdict: 'advance', next: 'shadow' });
  });

  it('holds off and dual-write while no request was served: the agents may not be pointed at memshift yet', () => {
    for (const stage of ['off', 'dual-write'] as const) {
      const v = decideVerdict(clean({ stage, served: 0, requests: 0, compared: 0 }), T);
      expect(v.verdict, stage).toBe('hold');
      expect(v.reasons[0], stage).toMatch(/no request served today/);
    }
    // Compared stages are judged by their comparisons, which need traffic anyway.
    expect(decideVerdict(clean({ served: 0 }), T).verdict).toBe('advance');
  });

  it('holds while a rollback of an earlier day is still in force, and rolls back when the guard tripped today', () => {
    const held = decideVerdict(clean({ heldBackSince: '2026-11-25 23:10:04 UTC' }), T);
    expect(held).toMatchObject({ verdict: 'hold' });
    expect(held.reasons[0]).toMatch(/guard holds it rolled back since 2026-11-25 23:10:04 UTC/);
    expect(decideVerdict(clean({ heldBackSince: '2026-11-26 09:00:00 UTC', guardTrips: [{ at: '09:00 UTC', rules: ['mismatchRate'] }] }), T).verdict).toBe(
      'roll back',
    );
  });

  it('holds a stage reading a side that missed writes, whatever else it saw; a roll back or an advance onto it says to repair first', () => {
    const since = '2026-11-26 08:00:00 UTC';
    const legacy = { legacy: since, new: null };
    for (const stage of ['killed', 'off', 'dual-write', 'shadow', 'cutover'] as const) {
      const v = decideVerdict(clean({ stage, behindSince: legacy, mismatch: 50 }), T);
      expect(v.verdict, stage).toBe('hold');
      expect(v.reasons[0], stage).toMatch(
        new RegExp(`^legacy has missed writes since ${since} \\(served at complete\\) and stage ${stage} reads it: .*--truth new`),
      );
      expect(v.reasons.slice(1).join(), stage).toMatch(/mismatch rate/);
    }
    const back = decideVerdict(clean({ stage: 'new-primary', behindSince: legacy, mismatch: 50 }), T);
    expect(back.verdict).toBe('roll back');
    expect(back.reasons.at(-1)).toMatch(/^legacy has missed writes since .*: repair it before reads go to it/);
    // At new-primary, clean, it advances to complete as ever: reads are the orchestrator's.
    expect(decideVerdict(clean({ stage: 'new-primary', behindSince: legacy }), T)).toMatchObject({ verdict: 'advance', next: 'complete' });

    // The orchestrator behind (writes under the kill switch): cutover and new-primary read it; shadow does not, but
    // its next stage would.
    const fresh = { legacy: null, new: since };
    for (const stage of ['cutover', 'new-primary'] as const)
      expect(decideVerdict(clean({ stage, behindSince: fresh }), T).reasons[0], stage).toMatch(
        new RegExp(
          `^the orchestrator has missed writes since ${since} \\(served to legacy alone: under the kill switch, or at off again\\) and stage ${stage} reads it: .*--truth legacy`,
        ),
      );
    expect(decideVerdict(clean({ stage: 'shadow', behindSince: fresh }), T)).toMatchObject({
      verdict: 'hold',
      reasons: [
        `the orchestrator has missed writes since ${since} (served to legacy alone: under the kill switch, or at off again), and cutover reads it: repair it first`,
      ],
    });
    expect(decideVerdict(clean({ stage: 'dual-write', behindSince: fresh, compared: 0 }), T).verdict).toBe('advance');
  });

  it('holds when killed or complete, unless something calls for a roll back', () => {
    expect(decideVerdict(clean({ stage: 'killed' }), T).verdict).toBe('hold');
    expect(decideVerdict(clean({ stage: 'complete' }), T).reasons[0]).toMatch(/complete/);
    expect(decideVerdict(clean({ stage: 'complete', mismatch: 50 }), T).verdict).toBe('roll back');
  });
});

describe('thresholdsFrom', () => {
  it("takes the guard's thresholds unless the report sets its own", () => {
    const guardOnly = thresholdsFrom(parseConfig({ guard: { mismatchRate: { threshold: 0.005, minSamples: 300 } } }));
    expect(guardOnly).toMatchObject({ mismatchRate: 0.005, minComparisons: 300, errorRate: 0.01, addedLatencyMs: 100, requireReconcile: true });
    const own = thresholdsFrom(
      parseConfig({
        guard: { mismatchRate: { threshold: 0.005 } },
        report: { thresholds: { mismatchRate: 0.0001, minComparisons: 50, requireReconcile: false } },
      }),
    );
    expect(own).toMatchObject({ mismatchRate: 0.0001, minComparisons: 50, requireReconcile: false });
  });
});
