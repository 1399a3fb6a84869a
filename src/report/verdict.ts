/**
 * The report's verdict for one service: advance, hold or roll back, with the reasons. Pure: it sees only
 * the day's figures and the thresholds, so operators (and tests) can reason about it line by line.
 */
import type { Config } from '../config.js';
import { readsFrom, type Stage } from '../flags/stage.js';
import { other, SIDES, type Side } from '../plan/plan.js';
import { bothBehindLine, GAP_CAUSE, WRITTEN_SECOND } from '../store/side-gaps.js';

const SIDE_NAME: Record<Side, string> = { legacy: 'legacy', new: 'the orchestrator' };
import { percent, percentBy } from './format.js';
import { digitsApart } from '../util/digits-apart.js';

export type Verdict = 'advance' | 'hold' | 'roll back';

export interface Thresholds {
  /** Over it (mismatched / compared): roll back. */
  mismatchRate: number;
  /** Over it (new-side errors / shadowed reads), once errorMinSamples reads were shadowed: roll back. */
  errorRate: number;
  errorMinSamples: number;
  /** Over it (new minus legacy average latency), once latencyMinSamples reads were compared: roll back. */
  addedLatencyMs: number;
  latencyMinSamples: number;
  /** Compared reads the day needs before the verdict can be advance. */
  minComparisons: number;
  /** Advancing also needs the day's latest reconciliation run to be clean. */
  requireReconcile: boolean;
}

export interface VerdictInput {
  stage: Stage;
  /** Every request the service answered through memshift during the day, compared or not. */
  served: number;
  /** Shadowed reads (every comparison attempt, skipped ones included). */
  requests: number;
  compared: number;
  /** Reads skipped for a write to their key not yet landed on the other side, whose re-check was given up. */
  neverCompared: number;
  /** Reads not compared for a reply over shadow.maxCompareBytes. */
  tooLarge: number;
  mismatch: number;
  newError: number;
  /** New minus legacy average latency over the day; null without both. */
  addedLatencyMs: number | null;
  /** When a guard rollback still in force that the flags do not show was made (its stamp); null when none holds. */
  heldBackSince: string | null;
  /** Since when each side has missed writes (its stamp: legacy at complete, new under the kill switch or at off again); null when none. */
  behindSince: Record<Side, string | null>;
  /** Guard rollbacks during the day, oldest first. */
  guardTrips: { at: string; rules: string[] }[];
  /** When a person resumed the guard after the day's last rollback; null when none did. */
  resumedAt: string | null;
  /** The day's latest finished reconciliation run; null when none ran. */
  reconcile: { status: 'running' | 'done' | 'failed'; remaining: number; queued: number } | null;
  /**
   * When (HH:MM UTC) the last write taken over was copied as applied with its primary's outcome unknown, where that may
   * be after the latest reconciliation run began (the sides may differ by it since); null when not.
   */
  assumedAfterReconcile: string | null;
}

export interface VerdictResult {
  verdict: Verdict;
  /** Why, most important first; each a short sentence with its figures. */
  reasons: string[];
  /** The stage to move to, for advance. */
  next?: Stage;
}

const NEXT: Partial<Record<Stage, Stage>> = {
  off: 'dual-write',
  'dual-write': 'shadow',
  shadow: 'cutover',
  cutover: 'new-primary',
  'new-primary': 'complete',
};

/** Stages whose reads are compared, so comparison figures are expected before advancing. */
const COMPARED: ReadonlySet<Stage> = new Set(['shadow', 'cutover', 'new-primary']);

export function decideVerdict(input: VerdictInput, t: Thresholds): VerdictResult {
  const rollBack = rollbackReasons(input, t);
  const gaps = SIDES.flatMap((side) => {
    const since = input.behindSince[side];
    return since ? [{ side, since }] : [];
  });
  // Each side's own repair is refused while the other is behind too: only a person's choice of the side to keep helps.
  if (gaps.length === SIDES.length) return { verdict: 'hold', reasons: [bothBehindLine('S'), ...rollBack] };
  // A side that missed writes (legacy at complete, the orchestrator under the kill switch or at off again) serves stale reads: whatever
  // else the day says, the way on is a repair of that side first.
  const stale = gaps.filter((g) => readsFrom(input.stage, g.side));
  if (stale.length)
    return {
      verdict: 'hold',
      reasons: [
        ...stale.map(
          (g) =>
            `${SIDE_NAME[g.side]} has missed writes since ${g.since} (${GAP_CAUSE[g.side]}) and stage ${input.stage} reads it: agents may read ` +
            `stale data; go to ${WRITTEN_SECOND[g.side]} and run memshift reconcile --service S --repair --truth ${other(g.side)}`,
        ),
        ...rollBack,
      ],
    };
  if (rollBack.length)
    return {
      verdict: 'roll back',
      reasons: [
        ...rollBack,
        ...gaps.map((g) => `${SIDE_NAME[g.side]} has missed writes since ${g.since} (${GAP_CAUSE[g.side]}): repair it before reads go to it`),
      ],
    };

  if (input.stage === 'killed') return { verdict: 'hold', reasons: ['the kill switch is on: every service is on legacy only'] };
  // An earlier day's rollback: the flags still name the stage the guard rolled back from.
  if (input.heldBackSince)
    return { verdict: 'hold', reasons: [`the guard holds it rolled back since ${input.heldBackSince}: resume the guard once the cause is fixed`] };
  if (input.stage === 'complete') return { verdict: 'hold', reasons: ['migration complete: nothing further to advance'] };

  const hold: string[] = [];
  const next = NEXT[input.stage]!;
  for (const g of gaps)
    if (readsFrom(next, g.side))
      hold.push(`${SIDE_NAME[g.side]} has missed writes since ${g.since} (${GAP_CAUSE[g.side]}), and ${next} reads it: repair it first`);
  // Where nothing is compared, traffic is the only sign that the agents are pointed at memshift at all.
  if (!COMPARED.has(input.stage) && input.served === 0) hold.push('no request served today: are the agents pointed at memshift?');
  if (COMPARED.has(input.stage) && input.compared < t.minComparisons) {
    // Closed-loop agents outrunning a slow orchestrator leave nearly every read skipped: say so, it is why.
    const starved = input.neverCompared
      ? `; ${input.neverCompared} read(s) met a write to their key not yet landed on the other side and were never compared (that side is behind: its latency, the outbox)`
      : '';
    const large = input.tooLarge ? `; ${input.tooLarge} read(s) had replies too large to compare (shadow.maxCompareBytes)` : '';
    hold.push(`too few comparisons: ${input.compared} of the ${t.minComparisons} needed${starved}${large}`);
  }
  // Before dual writes the new side holds nothing yet, so there is nothing to reconcile.
  if (t.requireReconcile && input.stage !== 'off') {
    const r = input.reconcile;
    if (!r) hold.push('no reconciliation run finished today');
    else if (r.status === 'failed') hold.push('the latest reconciliation run failed');
    else if (r.remaining > 0)
      hold.push(
        `${r.remaining} reconciliation difference(s) remain` +
          (r.queued ? ` (${r.queued} with writes still queued towards the secondary: the next run judges them again)` : ''),
      );
    if (r && input.assumedAfterReconcile)
      hold.push(
        `a write taken over at ${input.assumedAfterReconcile} was copied as applied with its primary's outcome unknown, after the latest ` +
          'reconciliation run began: the sides may differ by it; run memshift reconcile --service S again',
      );
  }
  if (hold.length) return { verdict: 'hold', reasons: hold };

  const clean: string[] = [];
  if (COMPARED.has(input.stage))
    clean.push(
      `${input.compared} comparisons, mismatch rate ${percentBy(rate(input.mismatch, input.compared), t.mismatchRate)} (limit ${percent(t.mismatchRate)})`,
    );
  if (t.requireReconcile && input.stage !== 'off') clean.push('reconciliation clean');
  if (!clean.length) clean.push(`legacy only, ${input.served} request(s) served: dual writes can start`);
  return { verdict: 'advance', reasons: clean, next };
}

function rollbackReasons(i: VerdictInput, t: Thresholds): string[] {
  const reasons: string[] = [];
  if (i.guardTrips.length) {
    const last = i.guardTrips[i.guardTrips.length - 1]!;
    // Resumed since: the day's figures still hold the time before it, which a person has looked into.
    const resumed = i.resumedAt ? `; a person resumed it at ${i.resumedAt}: the day's figures include the time before` : '';
    reasons.push(`guard tripped ${i.guardTrips.length} time(s), last at ${last.at} (${last.rules.join(', ') || 'no rule recorded'})${resumed}`);
  }
  // Any volume counts: a mismatch is a real difference in what a user would see, not noise.
  const mismatchRate = rate(i.mismatch, i.compared);
  if (i.compared > 0 && mismatchRate > t.mismatchRate) {
    reasons.push(`mismatch rate ${percentBy(mismatchRate, t.mismatchRate)} over ${percent(t.mismatchRate)} (${i.mismatch} of ${i.compared})`);
  }
  // Errors and latency are noisy in small samples (one timeout), so they need the guard's minimum.
  const errorRate = rate(i.newError, i.requests);
  if (i.requests >= t.errorMinSamples && errorRate > t.errorRate) {
    reasons.push(`new-side error rate ${percentBy(errorRate, t.errorRate)} over ${percent(t.errorRate)} (${i.newError} of ${i.requests})`);
  }
  if (i.addedLatencyMs !== null && i.compared >= t.latencyMinSamples && i.addedLatencyMs > t.addedLatencyMs) {
    reasons.push(
      `new side ${i.addedLatencyMs.toFixed(digitsApart(i.addedLatencyMs, t.addedLatencyMs, 1))} ms slower on average (limit ${t.addedLatencyMs} ms)`,
    );
  }
  return reasons;
}

const rate = (n: number, of: number) => (of > 0 ? n / of : 0);

/** The report's thresholds: each one set under report.thresholds, else the guard's. */
export function thresholdsFrom(config: Pick<Config, 'guard' | 'report'>): Thresholds {
  const r = config.report.thresholds;
  const g = config.guard;
  return {
    mismatchRate: r.mismatchRate ?? g.mismatchRate.threshold,
    errorRate: r.errorRate ?? g.errorRate.threshold,
    errorMinSamples: g.errorRate.minSamples,
    addedLatencyMs: r.addedLatencyMs ?? g.addedLatencyMs.threshold,
    latencyMinSamples: g.addedLatencyMs.minSamples,
    minComparisons: r.minComparisons ?? g.mismatchRate.minSamples,
    requireReconcile: r.requireReconcile,
  };
}
