/**
 * One service's sliding window for the guard: fixed time buckets (default 6 x 10 s) of comparison,
 * new-side call and latency counts, with running totals so each observation is checked in O(bins).
 */

/** Latency histogram bins growing 5% each from 0.05 ms: p99 within 5%, in constant space. */
const MIN_MS = 0.05;
const GROWTH = 1.05;
const BINS = 200; // up to ~0.05 * 1.05^200 ≈ 860 s
const LOG_GROWTH = Math.log(GROWTH);

const binOf = (ms: number): number => (ms <= MIN_MS ? 0 : Math.min(BINS - 1, Math.ceil(Math.log(ms / MIN_MS) / LOG_GROWTH)));
const upperBoundOf = (bin: number): number => MIN_MS * GROWTH ** bin;

/** A window's (or a bucket's) counts: comparisons, new-side calls and both sides' latency histograms. */
export class Counts {
  compared = 0;
  mismatches = 0;
  newCalls = 0;
  newErrors = 0;
  latencyPairs = 0;
  readonly legacy = new Float64Array(BINS);
  readonly new = new Float64Array(BINS);

  /** Adds (sign 1) or takes away (sign -1) another set of counts. */
  merge(o: Counts, sign: 1 | -1): void {
    this.compared += sign * o.compared;
    this.mismatches += sign * o.mismatches;
    this.newCalls += sign * o.newCalls;
    this.newErrors += sign * o.newErrors;
    this.latencyPairs += sign * o.latencyPairs;
    for (let i = 0; i < BINS; i++) {
      this.legacy[i]! += sign * o.legacy[i]!;
      this.new[i]! += sign * o.new[i]!;
    }
  }
}

export class Bucket extends Counts {
  constructor(readonly epoch: number) {
    super();
  }
}

export interface WindowFigures {
  windowMs: number;
  /** Compared reads with a verdict (match or mismatch) and how many mismatched. */
  compared: number;
  mismatches: number;
  mismatchRate: number | null;
  newCalls: number;
  newErrors: number;
  errorRate: number | null;
  /** Compared reads where both sides answered: the latency samples. */
  latencySamples: number;
  legacyP99Ms: number | null;
  newP99Ms: number | null;
  addedLatencyMs: number | null;
}

export class GuardWindow {
  private buckets: Bucket[] = [];
  private totals = new Counts();

  constructor(
    readonly bucketMs: number,
    readonly bucketCount: number,
  ) {}

  get windowMs(): number {
    return this.bucketMs * this.bucketCount;
  }

  addComparison(mismatch: boolean, now: number): void {
    this.count(now, (c) => {
      c.compared++;
      if (mismatch) c.mismatches++;
    });
  }

  addNewCall(ok: boolean, now: number): void {
    this.count(now, (c) => {
      c.newCalls++;
      if (!ok) c.newErrors++;
    });
  }

  addLatencies(legacyMs: number, newMs: number, now: number): void {
    const l = binOf(legacyMs);
    const n = binOf(newMs);
    this.count(now, (c) => {
      c.latencyPairs++;
      c.legacy[l]!++;
      c.new[n]!++;
    });
  }

  /** Drops buckets that fell out of the window (runs on every observation: nothing is allocated when none did). */
  private roll(now: number): void {
    const oldest = this.epochOf(now) - this.bucketCount + 1;
    if (!this.buckets.some((b) => b.epoch < oldest)) return;
    for (const b of this.buckets) if (b.epoch < oldest) this.totals.merge(b, -1);
    this.buckets = this.buckets.filter((b) => b.epoch >= oldest);
  }

  reset(): void {
    this.buckets = [];
    this.totals = new Counts();
  }

  /** Buckets from `epoch` on (what a replica publishes to the fleet). */
  bucketsSince(epoch: number): readonly Bucket[] {
    return this.buckets.filter((b) => b.epoch >= epoch);
  }

  epochOf(now: number): number {
    return Math.floor(now / this.bucketMs);
  }

  /** The window's figures; `peers`: other replicas' counts over the same window, added in. */
  figures(now: number, peers?: Counts): WindowFigures {
    this.roll(now);
    let t = this.totals;
    if (peers) {
      t = new Counts();
      t.merge(this.totals, 1);
      t.merge(peers, 1);
    }
    const legacyP99Ms = p99(t.legacy, t.latencyPairs);
    const newP99Ms = p99(t.new, t.latencyPairs);
    return {
      windowMs: this.windowMs,
      compared: t.compared,
      mismatches: t.mismatches,
      mismatchRate: t.compared ? t.mismatches / t.compared : null,
      newCalls: t.newCalls,
      newErrors: t.newErrors,
      errorRate: t.newCalls ? t.newErrors / t.newCalls : null,
      latencySamples: t.latencyPairs,
      legacyP99Ms,
      newP99Ms,
      addedLatencyMs: legacyP99Ms === null || newP99Ms === null ? null : newP99Ms - legacyP99Ms,
    };
  }

  private count(now: number, add: (c: Counts) => void): void {
    this.roll(now);
    const epoch = this.epochOf(now);
    let bucket = this.buckets.find((b) => b.epoch === epoch);
    if (!bucket) {
      bucket = new Bucket(epoch);
      this.buckets.push(bucket);
    }
    add(bucket);
    add(this.totals);
  }
}

/** The 99th percentile as the upper bound of the bin that holds it (both sides alike, so differences are fair). */
function p99(bins: Float64Array, n: number): number | null {
  if (n <= 0) return null;
  const rank = Math.ceil(0.99 * n);
  let seen = 0;
  for (let i = 0; i < BINS; i++) {
    seen += bins[i]!;
    if (seen >= rank) return Math.round(upperBoundOf(i) * 100) / 100;
  }
  return upperBoundOf(BINS - 1);
}
