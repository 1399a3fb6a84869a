/** In-process running totals per service, for the demo's summary and the admin status. */
import type { ServiceName } from '../services/registry.js';
import type { FieldDiff, MismatchKind } from '../comparison/compare.js';
import type { Result } from '../comparison/result.js';
import type {
  BaselinedEvent,
  ExecutionObserver,
  RecheckGivenUpEvent,
  ResolvedEvent,
  SideSkippedEvent,
  TooLargeEvent,
  WrittenEvent,
  ServedEvent,
  UnknownOutcomeEvent,
} from './observer.js';
import type { Route } from '../routes/route.js';
import type { Side } from './plan.js';

export interface ServiceTotals {
  requests: number;
  errors: number;
  servedFromNew: number;
  compared: number;
  mismatches: number;
  shadowErrors: number;
  skipped: number;
  /** Skipped reads compared later, once their key had settled (within compared and mismatches). */
  rechecked: number;
  /** Skipped reads whose re-check was given up. */
  neverCompared: number;
  /** A/A pairs read (legacy twice) for the noise baseline. */
  baselineReads: number;
  /** Shadowed reads not compared: legacy's reply over shadow.maxCompareBytes. */
  tooLarge: number;
  /** Differences discounted as noise, per field path in rule form. */
  noise: Record<string, number>;
  secondaryOk: number;
  secondaryFailed: number;
  fallbacks: number;
  staleReadsAvoided: number;
  /** Writes sent to one side alone, by the side that misses them (legacy at complete, new under the kill switch or at off again). */
  writesMissing: Record<Side, number>;
  /** Writes whose outcome on a side was unknown, and how the look-ups settled them. */
  unknownOutcomes: number;
  resolvedApplied: number;
  resolvedAbsent: number;
  /** Writes taken over whose primary's outcome nothing could tell, copied as applied (ResolvedEvent.assumed). */
  resolvedAssumed: number;
  /** Sum and count of leg latencies per side, from comparisons (both sides measured on the same request). */
  latency: { legacyMs: number; newMs: number; samples: number };
  /** Mismatch count per field path in rule form (e.g. context[].content). */
  fields: Record<string, number>;
  /** Mismatching comparisons per kind of difference (compare.ts MISMATCH_KINDS); one comparison counts once a kind. */
  kinds: Partial<Record<MismatchKind, number>>;
  /** Mismatching comparisons whose times all stood one offset apart (new minus legacy, seconds; comparison/offset.ts), per offset. */
  offsets: Record<string, number>;
}

const empty = (): ServiceTotals => ({
  requests: 0,
  errors: 0,
  servedFromNew: 0,
  compared: 0,
  mismatches: 0,
  shadowErrors: 0,
  skipped: 0,
  rechecked: 0,
  neverCompared: 0,
  baselineReads: 0,
  tooLarge: 0,
  noise: {},
  secondaryOk: 0,
  secondaryFailed: 0,
  fallbacks: 0,
  staleReadsAvoided: 0,
  writesMissing: { legacy: 0, new: 0 },
  unknownOutcomes: 0,
  resolvedApplied: 0,
  resolvedAbsent: 0,
  resolvedAssumed: 0,
  latency: { legacyMs: 0, newMs: 0, samples: 0 },
  fields: {},
  kinds: {},
  offsets: {},
});

/** Field paths kept per service; a flood of distinct paths must not grow memory without bound. */
const MAX_FIELDS = 200;

export class MigrationStats implements ExecutionObserver {
  private readonly totals = new Map<ServiceName, ServiceTotals>();

  /** A service's totals so far (zeros before its first request). */
  of(service: ServiceName): ServiceTotals {
    let t = this.totals.get(service);
    if (!t) this.totals.set(service, (t = empty()));
    return t;
  }

  served(e: ServedEvent): void {
    const t = this.of(e.route.service);
    t.requests++;
    if (!e.ok) t.errors++;
    if (e.side === 'new') t.servedFromNew++;
  }

  compared(e: Result): void {
    const t = this.of(e.route.service);
    if (e.outcome === 'skipped') t.skipped++;
    else if (e.outcome === 'legacy_error' || e.outcome === 'new_error') t.shadowErrors++;
    else {
      // A re-check stands for every skipped read of the same request it covers.
      const reads = e.recheck ?? 1;
      t.compared += reads;
      if (e.recheck) t.rechecked += e.recheck;
      countFields(t.noise, e.noise ?? []);
      if (e.control && e.candidate) {
        t.latency.legacyMs += e.control.latencyMs;
        t.latency.newMs += e.candidate.latencyMs;
        t.latency.samples++;
      }
      if (e.outcome === 'mismatch') {
        t.mismatches += reads;
        countFields(t.fields, e.diffs ?? []);
        for (const kind of new Set((e.diffs ?? []).map((d) => d.kind))) t.kinds[kind] = (t.kinds[kind] ?? 0) + 1;
        if (e.offsetS !== undefined) t.offsets[e.offsetS] = (t.offsets[e.offsetS] ?? 0) + 1;
      }
    }
  }

  secondaryWritten(e: WrittenEvent): void {
    const t = this.of(e.route.service);
    if (e.ok) t.secondaryOk++;
    else t.secondaryFailed++;
  }

  fallback(route: Route): void {
    this.of(route.service).fallbacks++;
  }

  staleReadAvoided(e: { route: Route }): void {
    this.of(e.route.service).staleReadsAvoided++;
  }

  tooLarge(e: TooLargeEvent): void {
    this.of(e.route.service).tooLarge++;
  }

  sideSkipped(e: SideSkippedEvent): void {
    this.of(e.route.service).writesMissing[e.side]++;
  }

  recheckGivenUp(e: RecheckGivenUpEvent): void {
    this.of(e.route.service).neverCompared += e.covered;
  }

  baselined(e: BaselinedEvent): void {
    this.of(e.route.service).baselineReads++;
  }

  unknownOutcome(e: UnknownOutcomeEvent): void {
    this.of(e.service).unknownOutcomes++;
  }

  unknownResolved(e: ResolvedEvent): void {
    const t = this.of(e.service);
    if (e.assumed) t.resolvedAssumed++;
    else if (e.applied) t.resolvedApplied++;
    else t.resolvedAbsent++;
  }
}

function countFields(fields: Record<string, number>, diffs: FieldDiff[]): void {
  for (const d of new Set(diffs.map((x) => x.field))) {
    if (fields[d] !== undefined || Object.keys(fields).length < MAX_FIELDS) fields[d] = (fields[d] ?? 0) + 1;
  }
}
