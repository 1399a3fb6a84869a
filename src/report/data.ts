/**
 * Gathers one UTC day's report data from the state store (comparison counts, mismatch samples, outbox,
 * reconciliation runs, guard events) and the flags, and decides each service's verdict. The result is
 * plain JSON: the renderers and the JSON report all read this one shape.
 *
 * Over 300 lines: the report's JSON shape and the one pass that fills it belong together (each table's SQL is its owner's).
 */
import { serviceConfigOf, type Config } from '../config.js';
import { serviceSnapshot, type FlagsSnapshot } from '../flags/source.js';
import type { FlagState, Stage } from '../flags/stage.js';
import { listReconcileRuns, type ReconcileRun } from '../reconcile/runs.js';
import { serviceNames, type ServiceName } from '../services/registry.js';
import type { CountsRow, Store, SummaryRow } from '../store/index.js';
import { OutboxHistory } from '../outbox/history.js';
import { GuardEvents, movedNoReads, type GuardEvent } from '../guard/events.js';
import type { UnknownFigures } from '../store/unknowns.js';
import type { Side } from '../plan/plan.js';
import { makeRedactor, redactDiff, type Redact, type RedactedDiff } from '../util/redact.js';
import { comparisonDetail, type ComparisonDetail } from './comparison-detail.js';
import { servedOf, type Served } from './served.js';
import { hhmm, stamp } from './format.js';
import { decideVerdict, thresholdsFrom, type Thresholds, type VerdictResult } from './verdict.js';

const REPORT_VERSION = 1;

/** One day's report: its data and the three renderings of it. */
export interface Report {
  date: string;
  data: ReportData;
  html: string;
  markdown: string;
  json: string;
}

/** The store's counts plus the rates and the latency difference the report shows. */
interface Figures extends CountsRow {
  legacyErrorRate: number;
  newErrorRate: number;
  /** newAvgMs - legacyAvgMs, when both are known. */
  addedLatencyMs: number | null;
}

interface SeriesPoint extends Figures {
  /** Start of the bucket (ISO). */
  at: string;
}

interface SampleDiff {
  at: string;
  action: string;
  diffs: RedactedDiff[];
}

interface RunSummary {
  id: number;
  trigger: string;
  status: ReconcileRun['status'];
  truth: string;
  repair: boolean;
  startedAt: string;
  finishedAt: string | null;
  legacyRecords: number;
  newRecords: number;
  missingInNew: number;
  missingInLegacy: number;
  differing: number;
  repaired: number;
  /** Differences not repaired: what still separates the two stores after this run. */
  remaining: number;
  /** Of those, the ones whose keys still had writes queued towards the secondary when the run ended: they may yet come alike. */
  queued: number;
  error: string | null;
  samples: { key: string; kind: string; queued: boolean; diffs: RedactedDiff[] }[];
}

interface GuardEventSummary {
  /** The guard's rollback, or a person's go-ahead after one (no breaches, no flags changed). */
  kind: 'rollback' | 'resume';
  at: string;
  stage: string;
  breaches: { rule: string; value: number; threshold: number; samples: number }[];
  flagsChanged: { flag: string; to: string }[];
  /** A trip that moved no reads: why (at complete, or legacy behind); null otherwise. */
  movedNoReads: string | null;
}

export interface ServiceReport {
  service: ServiceName;
  stage: Stage;
  flags: Record<string, FlagState>;
  /** Every request the service answered, compared or not (the figures above count the reads compared). */
  served: Served;
  totals: Figures;
  actions: (Figures & { action: string })[];
  series: SeriesPoint[];
  /** Kinds of mismatch, skipped reads re-checked or never compared, the A/A noise baseline. */
  comparison: ComparisonDetail;
  /** Field paths differing most often among the day's kept mismatch samples. */
  topFields: { path: string; count: number }[];
  samples: SampleDiff[];
  outbox: { depth: number; dead: number; series: { at: string; depth: number }[] };
  /** Writes whose outcome on a side was unknown, and how look-ups settled them (src/store/unknowns.ts). */
  unknowns: UnknownFigures;
  /** The day's runs, newest first. */
  reconcile: RunSummary[];
  /** Oldest first. */
  guardEvents: GuardEventSummary[];
  /**
   * In today's report, a guard rollback in force as it was made, which the flags do not show (flags from a file, or
   * Unleash without an admin token): the fleet serves the stage it rolled back to until someone resumes the guard.
   */
  heldBack: { since: string; flagsChanged: { flag: string; to: string }[] } | null;
  /** In today's report, since when each side has missed writes (legacy at complete, new under the kill switch or at off again) no repair copied back. */
  behindSince: Record<Side, string | null>;
  verdict: VerdictResult;
}

export interface ReportData {
  version: typeof REPORT_VERSION;
  /** YYYY-MM-DD, a UTC day. */
  date: string;
  /** The day, cut at generatedAt when the day is not over. */
  window: { from: string; to: string };
  /** The span with data, bucketed for the charts. */
  chart: { from: string; to: string; bucketMinutes: number };
  generatedAt: string;
  redacted: boolean;
  flagSource: string;
  killSwitch: boolean;
  thresholds: Thresholds;
  services: ServiceReport[];
}

export interface GatherOptions {
  date: string;
  config: Config;
  store: Pick<Store, 'pool' | 'comparisons' | 'samples' | 'unknowns' | 'tallies' | 'gaps'>;
  flags: { source: string; snapshot(): FlagsSnapshot };
  /** Default: the services enabled in config. */
  services?: readonly ServiceName[];
  /** Default: config.report.redact. */
  redact?: boolean;
  now?: Date;
  /** Mismatch samples shown per service. */
  sampleCount?: number;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const MINUTE = 60_000;

/** The UTC day a date string names, or undefined when it is not a real date. */
export function dayWindow(date: string): { from: Date; to: Date } | undefined {
  if (!DATE.test(date)) return undefined;
  const from = new Date(`${date}T00:00:00.000Z`);
  if (Number.isNaN(from.getTime()) || from.toISOString().slice(0, 10) !== date) return undefined;
  return { from, to: new Date(from.getTime() + 24 * 60 * MINUTE) };
}

export const utcDate = (at: Date): string => at.toISOString().slice(0, 10);

type ReportStore = GatherOptions['store'];

export async function gatherReport(opts: GatherOptions): Promise<ReportData> {
  const day = dayWindow(opts.date);
  if (!day) throw new Error(`not a date: "${opts.date}" (expected YYYY-MM-DD)`);
  const now = opts.now ?? new Date();
  const to = new Date(Math.max(day.from.getTime(), Math.min(day.to.getTime(), now.getTime())));
  const from = day.from;
  const { store } = opts;
  const outboxHistory = new OutboxHistory(store.pool);
  const guardLog = new GuardEvents(store.pool);
  const services = opts.services ?? serviceNames().filter((s) => serviceConfigOf(opts.config, s).enabled);
  const redacted = opts.redact ?? opts.config.report.redact;
  const redact = makeRedactor(redacted);
  const thresholds = thresholdsFrom(opts.config);
  const snapshot = opts.flags.snapshot();

  const span = await activeSpan(store, outboxHistory, from, to);
  const today = utcDate(now) === opts.date;
  const heldBack = today ? await guardLog.inForceUpTo(await guardLog.lastId()) : [];
  const behind = (service: ServiceName, side: Side) => (today ? (store.gaps.of(service, side)?.since.toISOString() ?? null) : null);
  const bucketMinutes = bucketFor((span.to.getTime() - span.from.getTime()) / MINUTE);
  const [totals, actions, series, outbox, unknowns, tallies] = await Promise.all([
    store.comparisons.byService(from, to),
    store.comparisons.summary({ since: from, until: to }),
    bucketSeries(store, span.from, span.to, bucketMinutes),
    outboxFigures(outboxHistory, span, bucketMinutes, utcDate(now) === opts.date),
    store.unknowns.figures(from, to),
    store.tallies.sum(from, to),
  ]);

  const reports = await Promise.all(
    services.map(async (service): Promise<ServiceReport> => {
      const [topFields, samples, runs, guardEvents] = await Promise.all([
        store.samples.topFields({ service, since: from, until: to, limit: 10 }),
        samplesOf(store, service, from, to, opts.sampleCount ?? 5, redact),
        listReconcileRuns(store.pool, { service, from, to, limit: 20 }),
        guardEventsOf(guardLog, service, from, to),
      ]);
      const t = figures(totals.get(service));
      const detail = comparisonDetail(tallies, service, t);
      const served = servedOf(tallies, service);
      const held = heldBackOf(heldBack.find((e) => e.service === service));
      const behindSince = { legacy: behind(service, 'legacy'), new: behind(service, 'new') };
      const { stage, flags } = serviceSnapshot(snapshot, service);
      const reconcile = runs.map((r) => summariseRun(r, redact));
      const latest = reconcile.find((r) => r.status !== 'running');
      const u = unknowns.get(service) ?? { seen: 0, applied: 0, notApplied: 0, assumed: 0, lastAssumedAt: null, meanResolveMs: null, maxResolveMs: null };
      // Counted by the minute: one in the minute the run began may have come after it.
      const assumedLate = latest && u.lastAssumedAt && Date.parse(u.lastAssumedAt) + MINUTE > Date.parse(latest.startedAt) ? u.lastAssumedAt : null;
      return {
        service,
        stage,
        flags,
        served,
        totals: t,
        comparison: detail,
        actions: actions.filter((a) => a.service === service).map(actionFigures),
        series: series.get(service) ?? [],
        topFields,
        samples,
        outbox: outbox.get(service) ?? { depth: 0, dead: 0, series: [] },
        unknowns: u,
        reconcile,
        guardEvents,
        heldBack: held,
        behindSince,
        verdict: decideVerdict(
          {
            stage,
            served: served.requests,
            requests: t.requests,
            compared: t.compared,
            neverCompared: detail.skipped.neverCompared,
            tooLarge: detail.tooLarge,
            mismatch: t.mismatch,
            newError: t.newError,
            addedLatencyMs: t.addedLatencyMs,
            heldBackSince: held ? stamp(held.since) : null,
            behindSince: { legacy: behindSince.legacy && stamp(behindSince.legacy), new: behindSince.new && stamp(behindSince.new) },
            guardTrips: guardEvents.filter((e) => e.kind === 'rollback').map((e) => ({ at: `${hhmm(e.at)} UTC`, rules: e.breaches.map((b) => b.rule) })),
            resumedAt: resumedAfterLastTrip(guardEvents),
            reconcile: latest ? { status: latest.status, remaining: latest.remaining, queued: latest.queued } : null,
            assumedAfterReconcile: assumedLate && `${hhmm(assumedLate)} UTC`,
          },
          thresholds,
        ),
      };
    }),
  );

  return {
    version: REPORT_VERSION,
    date: opts.date,
    window: { from: from.toISOString(), to: to.toISOString() },
    chart: { from: span.from.toISOString(), to: span.to.toISOString(), bucketMinutes },
    generatedAt: now.toISOString(),
    redacted,
    flagSource: opts.flags.source,
    killSwitch: snapshot.killSwitch,
    thresholds,
    services: reports,
  };
}

/** Bucket widths that read well on a time axis; the smallest keeping a chart under ~120 points wins. */
const BUCKETS = [1, 2, 5, 10, 15, 30, 60];
const bucketFor = (spanMinutes: number): number => BUCKETS.find((b) => spanMinutes / b <= 120) ?? 60;

/**
 * First to last minute with traffic or outbox activity in the window, widened backwards to at least 10
 * minutes so a short run reads as a moment on a timeline rather than filling the chart.
 */
/** The part of [from, to) with traffic (comparisons or stored writes), at least ten minutes of it. */
async function activeSpan(store: ReportStore, outbox: OutboxHistory, from: Date, to: Date): Promise<{ from: Date; to: Date }> {
  const spans = await Promise.all([store.comparisons.activeMinutes(from, to), outbox.activeMinutes(from, to)]);
  const firsts = spans.flatMap((x) => (x.first ? [x.first.getTime()] : []));
  const lasts = spans.flatMap((x) => (x.last ? [x.last.getTime()] : []));
  if (!firsts.length) return { from, to: new Date(Math.min(to.getTime(), from.getTime() + 10 * MINUTE)) };
  const end = Math.max(...lasts) + MINUTE;
  return { from: new Date(Math.max(from.getTime(), Math.min(Math.min(...firsts), end - 10 * MINUTE))), to: new Date(end) };
}

const ratio = (a: number, b: number) => (b > 0 ? a / b : 0);

const NO_COUNTS: CountsRow = {
  requests: 0,
  compared: 0,
  match: 0,
  mismatch: 0,
  legacyError: 0,
  newError: 0,
  skipped: 0,
  rechecked: 0,
  mismatchRate: 0,
  legacyAvgMs: null,
  legacyMaxMs: null,
  newAvgMs: null,
  newMaxMs: null,
};

function figures(c: CountsRow = NO_COUNTS): Figures {
  return {
    requests: c.requests,
    compared: c.compared,
    match: c.match,
    mismatch: c.mismatch,
    legacyError: c.legacyError,
    newError: c.newError,
    skipped: c.skipped,
    rechecked: c.rechecked,
    mismatchRate: c.mismatchRate,
    legacyErrorRate: ratio(c.legacyError, c.requests),
    newErrorRate: ratio(c.newError, c.requests),
    legacyAvgMs: c.legacyAvgMs,
    newAvgMs: c.newAvgMs,
    legacyMaxMs: c.legacyMaxMs,
    newMaxMs: c.newMaxMs,
    addedLatencyMs: c.legacyAvgMs !== null && c.newAvgMs !== null ? c.newAvgMs - c.legacyAvgMs : null,
  };
}

const actionFigures = (a: SummaryRow): Figures & { action: string } => ({ action: a.action, ...figures(a) });

/** Per service, one point per bucket from `from` to `to`, buckets without traffic included (as zeros). */
async function bucketSeries(store: ReportStore, from: Date, to: Date, bucketMinutes: number): Promise<Map<string, SeriesPoint[]>> {
  const byService = new Map<string, Map<number, Figures>>();
  for (const r of await store.comparisons.byBucket(from, to, bucketMinutes)) {
    const m = byService.get(r.service) ?? new Map<number, Figures>();
    m.set(r.bucket.getTime(), figures(r.counts));
    byService.set(r.service, m);
  }
  const out = new Map<string, SeriesPoint[]>();
  for (const [service, m] of byService) {
    out.set(
      service,
      bucketStarts(from, to, bucketMinutes).map((t) => ({ at: new Date(t).toISOString(), ...(m.get(t) ?? figures()) })),
    );
  }
  return out;
}

const bucketStarts = (from: Date, to: Date, bucketMinutes: number): number[] => {
  const step = bucketMinutes * MINUTE;
  const starts: number[] = [];
  for (let t = from.getTime(); t < to.getTime(); t += step) starts.push(t);
  return starts;
};

/**
 * Outbox depth now, and through the day: a write is waiting from its created_at until it is done or dead
 * (updated_at then). Finished writes are purged after outbox.retainDoneMs, so earlier depths count only the
 * writes still kept: a lower bound.
 */
async function outboxFigures(
  outbox: OutboxHistory,
  span: { from: Date; to: Date },
  bucketMinutes: number,
  today: boolean,
): Promise<Map<string, ServiceReport['outbox']>> {
  const [current, deltas] = await Promise.all([outbox.now(), outbox.depthChanges(span.from, span.to, bucketMinutes)]);
  const out = new Map<string, ServiceReport['outbox']>();
  for (const r of current) out.set(r.service, { depth: today ? r.depth : 0, dead: r.dead, series: [] });
  const byService = new Map<string, Map<number, number>>();
  for (const r of deltas) {
    const m = byService.get(r.service) ?? new Map<number, number>();
    m.set(r.bucket.getTime(), r.delta);
    byService.set(r.service, m);
  }
  for (const [service, m] of byService) {
    let depth = 0;
    // Each point: the depth at the end of its bucket.
    const series = bucketStarts(span.from, span.to, bucketMinutes).map((t) => {
      depth += m.get(t) ?? 0;
      return { at: new Date(t).toISOString(), depth: Math.max(0, depth) };
    });
    const entry = out.get(service) ?? { depth: 0, dead: 0, series: [] };
    entry.series = series;
    // "Now" is only today's; a past day shows its depth when its traffic ended.
    if (!today) entry.depth = series.at(-1)?.depth ?? 0;
    out.set(service, entry);
  }
  return out;
}

async function samplesOf(store: ReportStore, service: string, from: Date, to: Date, limit: number, redact: Redact): Promise<SampleDiff[]> {
  const rows = await store.samples.diffsOf(service, from, to, limit);
  return rows.map((r) => ({
    at: r.at.toISOString(),
    action: r.action,
    diffs: (Array.isArray(r.diff) ? r.diff : []).slice(0, 8).map((d) => redactDiff(d, redact)),
  }));
}

function summariseRun(r: ReconcileRun, redact: Redact): RunSummary {
  const found = r.missingInNew + r.missingInLegacy + r.differing;
  return {
    id: r.id,
    trigger: r.trigger,
    status: r.status,
    truth: r.truth,
    repair: r.repair,
    startedAt: r.startedAt.toISOString(),
    finishedAt: r.finishedAt?.toISOString() ?? null,
    legacyRecords: r.legacyRecords,
    newRecords: r.newRecords,
    missingInNew: r.missingInNew,
    missingInLegacy: r.missingInLegacy,
    differing: r.differing,
    repaired: r.repaired,
    remaining: Math.max(0, found - r.repaired),
    queued: r.queued,
    error: r.error,
    samples: (Array.isArray(r.sampleDiffs) ? r.sampleDiffs : []).slice(0, 5).map((d) => ({
      key: String(d.key),
      kind: String(d.kind),
      queued: d.queued === true,
      diffs: (Array.isArray(d.diffs) ? d.diffs : []).slice(0, 5).map((f) => redactDiff(f, redact)),
    })),
  };
}

const heldBackOf = (e: GuardEvent | undefined): ServiceReport['heldBack'] => (e ? { since: e.at, flagsChanged: e.flagsChanged } : null);

/** When a person resumed the guard after the day's last rollback (HH:MM UTC); null when no resume followed it. */
function resumedAfterLastTrip(events: GuardEventSummary[]): string | null {
  const last = events.at(-1);
  return last?.kind === 'resume' && events.some((e) => e.kind === 'rollback') ? `${hhmm(last.at)} UTC` : null;
}

async function guardEventsOf(events: GuardEvents, service: string, from: Date, to: Date): Promise<GuardEventSummary[]> {
  const rows = await events.between(service, from, to);
  const list = (v: unknown) => (Array.isArray(v) ? (v as Record<string, unknown>[]) : []);
  return rows.map((r) => {
    const flagsChanged = list(r.flags_changed).map((f) => ({ flag: String(f.flag), to: String(f.to) }));
    const behind = r.legacy_behind_since ? { legacyBehindSince: stamp(r.legacy_behind_since.toISOString()) } : {};
    return {
      kind: r.kind,
      at: r.at.toISOString(),
      stage: r.stage,
      breaches: list(r.breaches).map((b) => ({ rule: String(b.rule), value: Number(b.value), threshold: Number(b.threshold), samples: Number(b.samples) })),
      flagsChanged,
      movedNoReads: (r.kind === 'rollback' && movedNoReads({ service, stage: r.stage, flagsChanged, ...behind })) || null,
    };
  });
}
