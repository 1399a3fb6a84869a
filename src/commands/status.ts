/**
 * `memshift status`: a running proxy's view as one table (its admin API): per service the stage, the rollout
 * percentages, the guard's state and the current window's figures, and the outbox; then what holds a service back.
 */
import { defineCommand } from './define.js';
import { adminRequest } from './admin-api.js';
import { rolledBack, timesApart } from '../report/format.js';
import { movedNoReads, resumeHow, type GuardEvent } from '../guard/events.js';
import type { FlagState } from '../flags/stage.js';
import type { WindowFigures } from '../guard/window.js';
import { bothBehindLine, gapLine } from '../store/side-gaps.js';
import type { ServiceName } from '../services/registry.js';
import { SIDES, type Side } from '../plan/plan.js';

interface ServiceStatus {
  stage: string;
  flags: Record<string, FlagState>;
  guard: { state: string; figures: WindowFigures; trippedAt?: string; lastEvent?: GuardEvent } | null;
  comparisons: { skipped: number; rechecked: number; neverCompared: number; kinds: Record<string, number>; offsets: Record<string, number> } | null;
  outboxDepth: number | null;
  behindSince: Record<Side, string | null>;
  reached: { stage: string; at: string } | null;
}

export const command = defineCommand(
  `Usage: memshift status [--proxy URL] [--token T]

Asks a running proxy (--proxy, default http://127.0.0.1:8080) for GET /admin/status (--token: its admin token,
default $MEMSHIFT_ADMIN_TOKEN) and prints one table: each service's stage (off after a later stage shows the
furthest reached), read-new and shadow-read percentages, guard state, the guard window's compared reads,
mismatch rate, new-side error rate and added p99 latency, re-checked share of skipped reads, and the outbox
depth; then each service the guard holds back (since when, on which figures, how to resume), each whose
compared reads mostly differ in their times by one offset (a time zone or a clock apart), each side of a
service that missed writes (legacy at complete, the orchestrator under the kill switch or at off again), the
replicas on its store, and any setting or stage they are apart on.`,
  { proxy: { type: 'string', default: 'http://127.0.0.1:8080' }, token: { type: 'string' } },
  async ({ values }) => {
    const body = await adminRequest<StatusBody>(values.proxy, values.token, '/status');
    process.stdout.write(`${statusTable(values.proxy.replace(/\/+$/, ''), body).join('\n')}\n`);
  },
);

interface StatusBody {
  replica?: string;
  flagSource: string;
  unleash?: { answeredAt: string | null; failing: string | null } | null;
  heldFlags?: { flag: string; since: string }[];
  killSwitch: boolean;
  services: Record<string, ServiceStatus>;
  fleet: { live: number; disagreements: string[] } | null;
}

const HEAD = ['SERVICE', 'STAGE', 'READ-NEW', 'SHADOW', 'GUARD', 'COMPARED', 'MISMATCH', 'NEW ERR', '+P99', 'RE-CHECKED', 'OUTBOX'];

function statusTable(url: string, body: StatusBody): string[] {
  const pct = (v: number | null | undefined) => (v === null || v === undefined ? '-' : `${(v * 100).toFixed(v < 0.1 ? 2 : 1)}%`);
  const rollout = (flags: Record<string, FlagState>, kind: string) => {
    const f = Object.entries(flags).find(([n]) => n.endsWith(`.${kind}`))?.[1];
    const value = !f || !f.enabled || f.forcedOff ? 'off' : f.rollout === undefined ? 'on' : `${f.rollout}%`;
    return f?.held ? `${value} held` : value;
  };
  const rows = Object.entries(body.services).map(([service, s]) => {
    const w = s.guard?.figures;
    const added = w && w.newP99Ms !== null && w.legacyP99Ms !== null ? `${(w.newP99Ms - w.legacyP99Ms).toFixed(1)} ms` : '-';
    const c = s.comparisons;
    return [
      service,
      // Off again after a stage past it: its writes miss the orchestrator (and its flags may have been reset).
      s.stage === 'off' && s.reached ? `off (reached ${s.reached.stage})` : s.stage,
      rollout(s.flags, 'read-new'),
      rollout(s.flags, 'shadow-read'),
      s.guard?.state ?? 'off',
      w ? String(w.compared) : '-',
      pct(w?.mismatchRate),
      pct(w?.errorRate),
      added,
      c && c.skipped ? pct(c.rechecked / c.skipped) : '-',
      s.outboxDepth === null ? '-' : String(s.outboxDepth),
    ];
  });
  const widths = HEAD.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const gaps = Object.entries(body.services).flatMap(([service, s]) => {
    const behind = SIDES.flatMap((side) => {
      const since = s.behindSince[side];
      return since ? [`${service}: ${side.toUpperCase()} BEHIND: ${gapLine(service as ServiceName, side, since)}`] : [];
    });
    return behind.length === SIDES.length ? [...behind, `${service}: BOTH SIDES BEHIND: ${bothBehindLine(service)}`] : behind;
  });
  // A tripped guard holds the service's reads on legacy whatever the flags say (or, where it could not move them, no
  // longer watches): why, and how to let it move on.
  const held = Object.entries(body.services).flatMap(([service, s]) => {
    if (s.guard?.state !== 'tripped') return [];
    const e = s.guard.lastEvent;
    const why = e ? ` (${rolledBack(e)})` : '';
    const since = s.guard.trippedAt ?? '?';
    return [
      e && movedNoReads(e)
        ? `${service}: GUARD TRIPPED since ${since}${why}: it watches the service no more until a person resumes it: ${resumeHow(service)}`
        : `${service}: GUARD HOLDS IT BACK since ${since}${why}: reads stay on legacy until a person resumes it: ${resumeHow(service)}`,
    ];
  });
  // Every read of a service differing in its times by one offset: a zone or a clock, not the writes.
  const apart = Object.entries(body.services).flatMap(([service, s]) => {
    const c = s.comparisons;
    const text = c && timesApart(c.offsets, c.kinds.timestamp ?? 0, service);
    return text ? [`${service}: TIMES APART: ${text}`] : [];
  });
  const f = body.fleet;
  const fleet = f
    ? [`replicas on its store: ${f.live}, ${f.disagreements.length ? 'CONFIGURED APART:' : 'configured alike'}`, ...f.disagreements.map((d) => `  ${d}`)]
    : [];
  return [
    `${url} (replica ${body.replica ?? '?'}): flags from ${body.flagSource}${body.killSwitch ? ', KILL SWITCH ON' : ''}`,
    ...(body.unleash?.failing
      ? [
          `UNLEASH NOT ANSWERING (last answer ${body.unleash.answeredAt ?? 'never'}): ${body.unleash.failing}; flags changed in Unleash since do not reach this replica`,
        ]
      : []),
    ...(body.heldFlags ?? []).map((h) => `FLAG NOT IN UNLEASH since ${h.since}: ${h.flag} held at its last definition; revive it there and set it as it was`),
    line(HEAD),
    ...rows.map(line),
    ...held,
    ...apart,
    ...gaps,
    ...fleet,
  ];
}
