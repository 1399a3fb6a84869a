/**
 * memshift's metric instruments (process-wide, like the OTel global they come from) and the observer
 * that feeds them from the executor. Gauges read whatever sources running proxies registered.
 */
import { metrics, type Counter, type Histogram, type ObservableResult } from '@opentelemetry/api';
import type { ExecutionObserver } from '../plan/observer.js';
import type { SecondaryStats } from '../plan/secondary.js';
import { serviceSnapshot, type FlagsSnapshot } from '../flags/source.js';
import { serviceNames } from '../services/registry.js';
import { childLogger } from './log.js';
import { actionLabel } from '../routes/route.js';

const log = childLogger('telemetry');

/** A field path beyond the cap is counted under this one, so a reply with ever-new keys cannot explode the series. */
const OTHER_PATH = '(other)';

interface Instruments {
  comparisons: Counter;
  mismatches: Counter;
  fallbacks: Counter;
  secondaryWrites: Counter;
  unknownOutcomes: Counter;
  unknownResolved: Counter;
  unknownResolveSeconds: Histogram;
}

/** What one running proxy lets the gauges read. */
export interface GaugeSource {
  flags?: () => FlagsSnapshot;
  outbox?: () => Promise<SecondaryStats> | SecondaryStats;
  /** Services the guard has rolled back (and not yet re-armed). */
  tripped?: () => Iterable<string>;
}

const sources = new Set<GaugeSource>();
let cached: Instruments | undefined;
let maxPaths = 200;
const seenPaths = new Set<string>();

function instruments(): Instruments {
  return (cached ??= createInstruments());
}

/** Called when the meter provider changes: instruments are made again from the new one on next use. */
export function resetInstruments(opts: { maxMismatchPaths: number }): void {
  cached = undefined;
  maxPaths = opts.maxMismatchPaths;
  seenPaths.clear();
}

export function addGaugeSource(source: GaugeSource): () => void {
  sources.add(source);
  return () => sources.delete(source);
}

function boundedPath(path: string): string {
  if (seenPaths.has(path)) return path;
  if (seenPaths.size >= maxPaths) return OTHER_PATH;
  seenPaths.add(path);
  return path;
}

export const metricsObserver: Partial<ExecutionObserver> = {
  compared(e) {
    const { service } = e.route;
    const action = actionLabel(e.route);
    const m = instruments();
    m.comparisons.add(1, { service, action, outcome: e.outcome });
    if (e.outcome !== 'mismatch') return;
    // One count per field per comparison, whatever the number of elements that differ under it.
    for (const field of new Set((e.diffs ?? []).map((d) => d.field))) m.mismatches.add(1, { service, action, path: boundedPath(field || '(root)') });
  },
  secondaryWritten(e) {
    instruments().secondaryWrites.add(1, { service: e.route.service, side: e.side, outcome: e.ok ? 'ok' : 'failed' });
  },
  fallback(route) {
    instruments().fallbacks.add(1, { service: route.service, reason: 'new_failed' });
  },
  staleReadAvoided(route) {
    instruments().fallbacks.add(1, { service: route.service, reason: 'write_pending' });
  },
  unknownOutcome(e) {
    instruments().unknownOutcomes.add(1, { service: e.service, side: e.side, role: e.role });
  },
  unknownResolved(e) {
    const m = instruments();
    const labels = { service: e.service, side: e.side, role: e.role };
    m.unknownResolved.add(1, { ...labels, result: e.applied ? 'applied' : 'not_applied' });
    m.unknownResolveSeconds.record(e.resolveMs / 1000, labels);
  },
};

function createInstruments(): Instruments {
  const meter = metrics.getMeter('memshift');
  const made: Instruments = {
    comparisons: meter.createCounter('memshift.comparisons', { description: 'Shadow comparisons by outcome' }),
    mismatches: meter.createCounter('memshift.mismatches', { description: 'Mismatching comparisons by field path (capped)' }),
    fallbacks: meter.createCounter('memshift.read.fallbacks', { description: 'Reads meant for new served from legacy' }),
    secondaryWrites: meter.createCounter('memshift.secondary.writes', { description: 'Secondary writes applied, by side and outcome' }),
    unknownOutcomes: meter.createCounter('memshift.unknown_outcomes', {
      description: 'Writes whose outcome on a side was unknown (timeout, connection lost after the send)',
    }),
    unknownResolved: meter.createCounter('memshift.unknown_outcomes.resolved', { description: 'Unknown outcomes settled by a look-up, by result' }),
    unknownResolveSeconds: meter.createHistogram('memshift.unknown_outcomes.resolve_time', {
      unit: 's',
      description: 'From an unknown outcome to the look-up that settled it',
    }),
  };
  const outboxDepth = meter.createObservableGauge('memshift.outbox.depth', { description: 'Secondary writes not yet applied' });
  const outboxParked = meter.createObservableGauge('memshift.outbox.parked', { description: 'Secondary writes parked as dead' });
  meter.addBatchObservableCallback(
    async (r) => {
      let depth = 0;
      let parked = 0;
      for (const s of sources) {
        if (!s.outbox) continue;
        try {
          const stats = await s.outbox();
          depth += stats.depth;
          parked += stats.parked;
        } catch (err) {
          log.debug({ err }, 'outbox stats unavailable');
        }
      }
      r.observe(outboxDepth, depth);
      r.observe(outboxParked, parked);
    },
    [outboxDepth, outboxParked],
  );
  meter
    .createObservableGauge('memshift.flag.enabled', { description: 'Flag state as this instance applies it (1 on, 0 off)' })
    .addCallback((r) => observeFlags(r, 'enabled'));
  meter
    .createObservableGauge('memshift.flag.rollout', { unit: '%', description: 'Rollout percentage of rollout flags' })
    .addCallback((r) => observeFlags(r, 'rollout'));
  meter.createObservableGauge('memshift.stage', { description: "1 for each service's current stage" }).addCallback((r) => {
    const snap = [...sources].find((s) => s.flags)?.flags?.();
    if (snap) for (const service of serviceNames()) r.observe(1, { service, stage: serviceSnapshot(snap, service).stage });
  });
  meter.createObservableGauge('memshift.guard.tripped', { description: '1 while the guard holds a service rolled back' }).addCallback((r) => {
    const tripped = new Set<string>();
    for (const s of sources) for (const t of s.tripped?.() ?? []) tripped.add(t);
    for (const service of serviceNames()) r.observe(tripped.has(service) ? 1 : 0, { service });
  });
  return made;
}

function observeFlags(r: ObservableResult, what: 'enabled' | 'rollout'): void {
  for (const s of sources) {
    const snap = s.flags?.();
    if (!snap) continue;
    for (const service of serviceNames()) {
      for (const [flag, state] of Object.entries(serviceSnapshot(snap, service).flags)) {
        if (what === 'enabled') r.observe(state.enabled ? 1 : 0, { flag, service });
        else if (state.rollout !== undefined) r.observe(state.rollout, { flag, service });
      }
    }
    // Several proxies in one process share the flags of the first one that answers.
    return;
  }
}
