/** Number and time formats shared by the HTML and Markdown reports, so both show the same figures. */
import type { Side } from '../plan/plan.js';
import type { ServiceName } from '../services/registry.js';
import { gapLine } from '../store/side-gaps.js';
import type { UnknownFigures } from '../store/unknowns.js';
import { movedNoReads, resumeHow, type Breach } from '../guard/events.js';
import { dominantOffset, offsetLabel } from '../comparison/offset.js';
import { shortFlagName } from '../flags/names.js';
import { digitsApart } from '../util/digits-apart.js';

export const count = (n: number): string => Math.round(n).toLocaleString('en-US');

/** A rate as a percentage: two decimals below 10% (where 0.1% thresholds live), one above. */
export const percent = (rate: number): string => `${(rate * 100).toFixed(rate < 0.1 ? 2 : 1)}%`;

/** A rate beside the limit it is judged by, with the decimals that tell them apart (0.101% over a 0.10% limit). */
export const percentBy = (rate: number, limit: number): string => `${(rate * 100).toFixed(digitsApart(rate * 100, limit * 100, rate < 0.1 ? 2 : 1))}%`;

export const ms = (v: number | null): string => (v === null ? '–' : `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ms`);

export const signedMs = (v: number | null): string => (v === null ? '–' : `${v >= 0 ? '+' : '−'}${ms(Math.abs(v))}`);

/**
 * Unknown outcomes, and how look-ups settled them, in one line; with the writes taken over that nothing could settle,
 * copied as applied (the sides may differ by them until a reconciliation).
 */
export const unknownLine = (u: UnknownFigures): string =>
  `${count(u.seen)} / ${count(u.applied)} applied, ${count(u.notApplied)} not, ${count(u.assumed)} assumed applied (taken over) / ` +
  `${ms(u.meanResolveMs)} mean, ${ms(u.maxResolveMs)} max`;

/** How many answered requests failed: `(3 backend errors, 0.19%; 1 bad request)`. */
export const servedErrors = (s: { requests: number; backendError: number; backendErrorRate: number; badRequest: number }): string =>
  `(${count(s.backendError)} backend error${s.backendError === 1 ? '' : 's'}, ${percent(s.backendErrorRate)}; ` +
  `${count(s.badRequest)} bad request${s.badRequest === 1 ? '' : 's'})`;

/** A guard rollback in force that the flags do not show, as one sentence (shared by the HTML and Markdown reports). */
export const heldBackLine = (service: string, h: { since: string; flagsChanged: { flag: string; to: string }[] }): string =>
  `Held back by the guard since ${stamp(h.since)} (${h.flagsChanged.map((f) => `${shortFlagName(f.flag)} ${f.to}`).join(', ')}): ` +
  `the flags do not show it, and the fleet serves so until the guard is resumed (${resumeHow(service)}).`;

/** A side's gap, as one sentence (shared by the HTML and Markdown reports). */
export const behindLine = (service: ServiceName, side: Side, since: string): string => {
  const line = gapLine(service, side, stamp(since));
  return `${line[0]!.toUpperCase()}${line.slice(1)}.`;
};

/** HH:MM of an ISO time, in UTC like the report's day. */
export const hhmm = (iso: string | number): string => new Date(iso).toISOString().slice(11, 16);

/** YYYY-MM-DD HH:MM:SS UTC. */
export const stamp = (iso: string): string => `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;

/** A value shown in a diff: redacted descriptions as they are, raw values as compact JSON. */
export function shown(v: unknown, max = 120): string {
  const text = typeof v === 'string' && v.startsWith('‹') ? v : v === undefined ? '‹absent›' : (JSON.stringify(v) ?? String(v));
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A person's resume in the guard's events, beside its rollbacks. */
export const RESUMED = 'resumed by a person: the flags decide again';

/** What the report's "not compared (reply too large)" figure counts. */
export const TOO_LARGE = "legacy's reply was over shadow.maxCompareBytes; its key and action then go unshadowed for 10 min";

/** A guard breach in its rule's unit: `mismatchRate 0.59% > 0.10% (171 samples)`. */
export function breach(b: { rule: string; value: number; threshold: number; samples: number }): string {
  const value =
    b.rule === 'addedLatencyMs' ? `${b.value.toFixed(digitsApart(b.value, b.threshold, b.value < 10 ? 2 : 1))} ms` : percentBy(b.value, b.threshold);
  const threshold = b.rule === 'addedLatencyMs' ? ms(b.threshold) : percent(b.threshold);
  return `${b.rule} ${value} > ${threshold} (${count(b.samples)} samples)`;
}

/**
 * A guard trip as a clause: `rolled back at shadow: mismatchRate 0.59% > 0.10% (171 samples)`, or for one that moved
 * no reads `tripped at complete: ...; nothing rolled back: legacy is no longer written ...`.
 */
export function rolledBack(e: Parameters<typeof movedNoReads>[0] & { breaches: Breach[] }): string {
  const why = e.breaches.length ? `: ${e.breaches.map(breach).join(', ')}` : '';
  const kept = movedNoReads(e);
  return kept ? `tripped at ${e.stage}${why}; nothing rolled back: ${kept}` : `rolled back at ${e.stage}${why}`;
}

export const VERDICT_LABEL = { advance: 'Advance', hold: 'Hold', 'roll back': 'Roll back' } as const;

/** What became of the reads skipped for a write in flight, as one line. */
export function skippedLine(s: { reads: number; rechecked: number; neverCompared: number; waiting: number }): string {
  if (!s.reads) return '0';
  return `${count(s.reads)}: re-checked later ${count(s.rechecked)} (${percent(s.rechecked / s.reads)}), never compared ${count(s.neverCompared)} (${percent(s.neverCompared / s.reads)})${s.waiting ? `, waiting ${count(s.waiting)}` : ''}`;
}

const note = (text: string | undefined) => (text ? ` (${text})` : '');

/**
 * Mismatches per kind of difference, most frequent first; time differences that mostly stood one offset apart say
 * so, with what sets a zone or a clock apart.
 */
export const kindsLine = (kinds: Record<string, number>, offsets: Record<string, number>, service: string): string =>
  Object.entries(kinds)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k.replaceAll('_', ' ')} ${count(n)}${k === 'timestamp' ? note(timesApart(offsets, n, service)) : ''}`)
    .join(', ') || 'none';

/** What most of a service's timestamp differences standing one offset apart say, if they do: how many, how far, and what sets it right. */
export function timesApart(offsets: Record<string, number>, timestamps: number, service: string): string | undefined {
  const steady = dominantOffset(offsets, timestamps);
  if (!steady) return undefined;
  const what =
    Math.abs(steady.offsetS) >= 600
      ? `another time zone on legacy's host (services.${service}.timeZone)`
      : "clocks apart (NTP on legacy's host and memshift's, or a larger shadow.timeToleranceS)";
  return `${count(steady.count)} with new's times ${offsetLabel(steady.offsetS)} from legacy's: ${what}`;
}

/** The noise baseline's fields per action: each field's A/A share and how many comparisons it was discounted from. */
export const noiseRows = (noise: { action: string; aaReads: number; fields: { field: string; aaShare: number; discounted: number }[] }[]) =>
  noise.flatMap((a) =>
    a.fields.map((f) => ({ action: a.action, aaReads: a.aaReads, field: f.field, aaShare: percent(f.aaShare), discounted: count(f.discounted) })),
  );
