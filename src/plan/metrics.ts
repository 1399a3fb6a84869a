/** The run's metrics: comparisons and re-checks, mismatching fields and kinds, the noise baseline, fallbacks, secondary writes, unknown outcomes, outbox gauges. */
import { defineCounter, defineGauge, defineHistogram } from '../telemetry/metrics.js';
import { actionLabel } from '../routes/route.js';
import type { ExecutionObserver } from './observer.js';
import type { SecondaryStats } from './secondary.js';
import { Untranslatable } from '../services/types.js';

/** A field path beyond the cap is counted under this one, so a reply with ever-new keys cannot explode the series. */
const OTHER_PATH = '(other)';

const comparisons = defineCounter('memshift.comparisons', { description: 'Shadow comparisons by outcome' });
const mismatches = defineCounter('memshift.mismatches', { description: 'Mismatching comparisons by field path (capped)' });
const mismatchKinds = defineCounter('memshift.mismatch_kinds', {
  description: 'Mismatching comparisons by kind of difference (missing, extra, order, timestamp, number spelling, type, content)',
});
const rechecksGivenUp = defineCounter('memshift.rechecks.given_up', {
  description: 'Reads skipped for a write in flight and never compared: their re-check was given up (why: budget, unsettled, side_failed)',
});
const baselineReads = defineCounter('memshift.baseline.reads', { description: 'A/A pairs (legacy read twice) taken for the noise baseline' });
const tooLarge = defineCounter('memshift.comparisons.too_large', {
  description: "Shadowed reads not compared: legacy's reply was over shadow.maxCompareBytes (its key not shadowed for a while)",
});
const noiseDiscounted = defineCounter('memshift.noise.discounted', {
  description: 'Comparisons with a difference discounted as noise, by field path (capped)',
});
const fallbacks = defineCounter('memshift.read.fallbacks', {
  description: 'Reads served by the other side than the flags name (served_by): new failed, or a write to the key not landed on the side named',
});
const secondaryWrites = defineCounter('memshift.secondary.writes', { description: 'Secondary writes applied, by side and outcome' });
const unknownOutcomes = defineCounter('memshift.unknown_outcomes', {
  description: 'Writes whose outcome on a side was unknown (timeout, connection lost after the send)',
});
const unknownResolved = defineCounter('memshift.unknown_outcomes.resolved', {
  description: 'Unknown outcomes settled by a look-up, by result (assumed: taken over, nothing could tell, copied as applied)',
});
const unknownResolveSeconds = defineHistogram('memshift.unknown_outcomes.resolve_time', {
  unit: 's',
  description: 'From an unknown outcome to the look-up that settled it',
});
const outboxDepth = defineGauge('memshift.outbox.depth', { description: 'Secondary writes not yet applied', combine: 'sum' });
const outboxParked = defineGauge('memshift.outbox.parked', { description: 'Secondary writes parked as dead', combine: 'sum' });
const outboxReordered = defineGauge('memshift.outbox.reordered_keys', {
  description: "Keys whose writes held in memory (state store away) another replica's later writes overtook",
  combine: 'sum',
});
const outboxOldest = defineGauge('memshift.outbox.oldest_age_seconds', { description: 'Age of the oldest secondary write not yet applied', combine: 'max' });

/** Feeds the outbox gauges from one proxy's secondary writes; returns the unregister. */
export function gaugeSecondaryWrites(stats: () => Promise<SecondaryStats> | SecondaryStats): () => void {
  const removeDepth = outboxDepth.addSource(async () => [{ value: (await stats()).depth, attributes: {} }]);
  const removeParked = outboxParked.addSource(async () => [{ value: (await stats()).parked, attributes: {} }]);
  const removeOldest = outboxOldest.addSource(async () => [{ value: (await stats()).oldestAgeMs / 1000, attributes: {} }]);
  const removeReordered = outboxReordered.addSource(async () => [{ value: (await stats()).reordered, attributes: {} }]);
  return () => {
    removeDepth();
    removeParked();
    removeOldest();
    removeReordered();
  };
}

/** The observer that counts what the runner reports; `maxPaths` distinct mismatch paths get their own series. */
export function metricsObserver(maxPaths: number): Partial<ExecutionObserver> {
  const seenPaths = new Set<string>();
  const boundedPath = (path: string): string => {
    if (seenPaths.has(path)) return path;
    if (seenPaths.size >= maxPaths) return OTHER_PATH;
    seenPaths.add(path);
    return path;
  };
  return {
    compared(e) {
      const { service } = e.route;
      const action = actionLabel(e.route);
      const recheck = e.recheck && (e.outcome === 'match' || e.outcome === 'mismatch');
      comparisons.add(e.recheck ?? 1, { service, action, outcome: recheck ? `recheck_${e.outcome}` : e.outcome });
      for (const field of new Set((e.noise ?? []).map((d) => d.field))) noiseDiscounted.add(1, { service, action, path: boundedPath(field || '(root)') });
      if (e.outcome !== 'mismatch') return;
      // One count per field per comparison, whatever the number of elements that differ under it.
      for (const field of new Set((e.diffs ?? []).map((d) => d.field))) mismatches.add(1, { service, action, path: boundedPath(field || '(root)') });
      for (const kind of new Set((e.diffs ?? []).map((d) => d.kind))) mismatchKinds.add(1, { service, action, kind });
    },
    secondaryWritten(e) {
      const untranslatable = e.error instanceof Untranslatable ? { reason: e.error.reason } : undefined;
      secondaryWrites.add(1, {
        service: e.route.service,
        side: e.side,
        outcome: e.ok ? 'ok' : untranslatable ? 'untranslatable' : 'failed',
        ...untranslatable,
      });
    },
    fallback(route) {
      fallbacks.add(1, { service: route.service, reason: 'new_failed', served_by: 'legacy' });
    },
    staleReadAvoided({ route, side }) {
      fallbacks.add(1, { service: route.service, reason: 'write_pending', served_by: side });
    },
    unknownOutcome(e) {
      unknownOutcomes.add(1, { service: e.service, side: e.side, role: e.role });
    },
    recheckGivenUp(e) {
      rechecksGivenUp.add(e.covered, { service: e.route.service, action: actionLabel(e.route), why: e.why });
    },
    baselined(e) {
      baselineReads.add(1, { service: e.route.service, action: actionLabel(e.route) });
    },
    tooLarge(e) {
      tooLarge.add(1, { service: e.route.service, action: actionLabel(e.route) });
    },
    unknownResolved(e) {
      const labels = { service: e.service, side: e.side, role: e.role };
      unknownResolved.add(1, { ...labels, result: e.assumed ? 'assumed' : e.applied ? 'applied' : 'not_applied' });
      // An assumed one was settled by nothing: its time is not a look-up's.
      if (!e.assumed) unknownResolveSeconds.record(e.resolveMs / 1000, labels);
    },
  };
}
