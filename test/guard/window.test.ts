// The guard's sliding window and rules, on a fake clock.
import { describe, expect, it } from 'vitest';
import { GuardWindow } from '../../src/guard/window.js';
import { breachesOf } from '../../src/guard/guard.js';

const RULES = {
  mismatchRate: { threshold: 0.001, minSamples: 100 },
  errorRate: { threshold: 0.01, minSamples: 50 },
  addedLatencyMs: { threshold: 100, minSamples: 20 },
};

describe('GuardWindow', () => {
  it('counts within the window and forgets buckets that leave it', () => {
    const w = new GuardWindow(1000, 3);
    for (let i = 0; i < 10; i++) w.addComparison(i === 0, 500);
    w.addComparison(false, 1500);
    expect(w.figures(2999)).toMatchObject({ compared: 11, mismatches: 1 });
    // At 3000 the bucket [0, 1000) is out of the 3-bucket window.
    expect(w.figures(3000)).toMatchObject({ compared: 1, mismatches: 0, mismatchRate: 0 });
    expect(w.figures(4500)).toMatchObject({ compared: 0, mismatchRate: null });
  });

  it('p99 per side within 5%, and the added latency is their difference', () => {
    const w = new GuardWindow(1000, 6);
    for (let i = 0; i < 200; i++) w.addLatencies(1 + (i % 3), 150 + (i % 10), 10);
    const f = w.figures(10);
    expect(f.latencySamples).toBe(200);
    expect(f.legacyP99Ms).toBeGreaterThanOrEqual(3);
    expect(f.legacyP99Ms).toBeLessThan(3 * 1.05 + 0.01);
    expect(f.newP99Ms).toBeGreaterThanOrEqual(159);
    expect(f.newP99Ms).toBeLessThan(159 * 1.05 + 0.01);
    expect(f.addedLatencyMs).toBeCloseTo(f.newP99Ms! - f.legacyP99Ms!, 6);
  });
});

describe('breachesOf', () => {
  it('needs the minimum sample count, then a value above the threshold', () => {
    const w = new GuardWindow(1000, 6);
    for (let i = 0; i < 99; i++) w.addComparison(i < 5, 0);
    expect(breachesOf(w.figures(0), RULES)).toEqual([]);
    w.addComparison(false, 0);
    expect(breachesOf(w.figures(0), RULES)).toEqual([{ rule: 'mismatchRate', value: 0.05, threshold: 0.001, samples: 100, minSamples: 100 }]);
  });

  it('flags error rate and added latency on their own', () => {
    const w = new GuardWindow(1000, 6);
    for (let i = 0; i < 50; i++) w.addNewCall(i !== 0, 0); // exactly 2% errors
    for (let i = 0; i < 20; i++) w.addLatencies(1, 90, 0); // +89 ms: under 100
    expect(breachesOf(w.figures(0), RULES).map((b) => b.rule)).toEqual(['errorRate']);
    for (let i = 0; i < 20; i++) w.addLatencies(1, 300, 0);
    expect(breachesOf(w.figures(0), RULES).map((b) => b.rule)).toEqual(['errorRate', 'addedLatencyMs']);
  });
});
