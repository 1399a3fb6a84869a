/**
 * The report as one self-contained HTML page: inline CSS and inline SVG charts, no script and nothing
 * fetched, so it opens the same from a file, a mail attachment or /admin/reports.
 *
 * Over 300 lines: one page's sections in reading order (the charts are in svg.ts).
 */
import { flagWords, type FlagState } from '../flags/stage.js';
import type { ReportData, ServiceReport } from './data.js';
import type { Thresholds } from './verdict.js';
import { SIDES } from '../plan/plan.js';
import {
  breach,
  RESUMED,
  TOO_LARGE,
  count,
  heldBackLine,
  behindLine,
  hhmm,
  kindsLine,
  ms,
  noiseRows,
  percent,
  servedErrors,
  shown,
  signedMs,
  skippedLine,
  stamp,
  unknownLine,
  VERDICT_LABEL,
} from './format.js';
import { escapeXml as esc, lineChart, type ChartSeries } from './svg.js';
import { shortFlagName } from '../flags/names.js';

const SERVICE_COLORS = ['#2563eb', '#ea580c', '#0d9488', '#9333ea', '#ca8a04'];
const LEGACY_COLOR = '#64748b';
const NEW_COLOR = '#7c3aed';

export function renderHtml(r: ReportData): string {
  const colors = new Map(r.services.map((s, i) => [s.service, SERVICE_COLORS[i % SERVICE_COLORS.length]!]));
  const times = r.services.find((s) => s.series.length)?.series.map((p) => Date.parse(p.at)) ?? [];
  const xDomain: [number, number] = [Date.parse(r.chart.from), Date.parse(r.chart.to)];

  const mismatchSeries: ChartSeries[] = r.services.map((s) => ({
    name: s.service,
    color: colors.get(s.service)!,
    values: s.series.map((p) => (p.compared ? p.mismatchRate : null)),
  }));
  const outboxTimes = r.services.find((s) => s.outbox.series.length)?.outbox.series.map((p) => Date.parse(p.at)) ?? [];
  const outboxSeries: ChartSeries[] = r.services.map((s) => ({
    name: s.service,
    color: colors.get(s.service)!,
    values: outboxTimes.map((_, i) => s.outbox.series[i]?.depth ?? 0),
  }));

  const body = [
    header(r),
    `<section class="cards">${r.services.map((s) => card(s)).join('')}</section>`,
    `<section class="panel"><h2>Through the day</h2><p class="note">UTC, ${r.chart.bucketMinutes}-minute buckets, ${hhmm(r.chart.from)}–${hhmm(r.chart.to)}.</p><div class="charts">`,
    figure(
      'Mismatch rate of compared reads',
      legend(mismatchSeries),
      lineChart({
        id: 'mismatch-rate',
        title: 'Mismatch rate per service',
        times,
        xDomain,
        series: mismatchSeries,
        yFormat: percent,
        threshold: { value: r.thresholds.mismatchRate, label: `roll-back threshold ${percent(r.thresholds.mismatchRate)}` },
      }),
    ),
    figure(
      'Outbox depth (secondary writes waiting)',
      legend(outboxSeries),
      lineChart({
        id: 'outbox-depth',
        title: 'Outbox depth per service',
        times: outboxTimes,
        xDomain,
        series: outboxTimes.length ? outboxSeries : [],
        yFormat: (v) => count(v),
      }),
      'Derived from the outbox rows still kept (finished writes are purged after outbox.retainDoneMs).',
    ),
    '</div></section>',
    ...r.services.map((s) => serviceSection(s, times, xDomain, r.thresholds)),
    footer(r),
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>memshift report ${esc(r.date)}</title><style>${CSS}</style></head>
<body><main>${body.join('\n')}</main></body></html>
`;
}

function header(r: ReportData): string {
  const meta = [
    `${esc(r.date)} (UTC)`,
    `generated ${esc(stamp(r.generatedAt))}`,
    `flags from ${esc(r.flagSource)}${r.killSwitch ? ' · <strong class="bad">kill switch on</strong>' : ''}`,
    r.redacted ? 'memory values redacted' : '<strong class="bad">memory values shown</strong>',
  ];
  return `<header class="top"><div class="brand">memshift</div><h1>Daily reconciliation report</h1><p class="meta">${meta.join(' · ')}</p></header>`;
}

const verdictClass = (v: string) => `v-${v.replace(' ', '-')}`;

function card(s: ServiceReport): string {
  const t = s.totals;
  return `<article class="card ${verdictClass(s.verdict.verdict)}" data-service="${esc(s.service)}">
<div class="card-head"><h2><a href="#svc-${esc(s.service)}">${esc(s.service)}</a></h2><span class="stage">${esc(s.stage)}</span></div>
<div class="verdict-line"><span class="verdict ${verdictClass(s.verdict.verdict)}" data-verdict="${esc(s.verdict.verdict)}">${VERDICT_LABEL[s.verdict.verdict]}</span>${s.verdict.next ? `<span class="next">to ${esc(s.verdict.next)}</span>` : ''}</div>
<dl class="kpis">
<div><dt>Served</dt><dd data-figure="served" data-value="${s.served.requests}">${count(s.served.requests)}</dd></div>
<div><dt>Shadowed reads</dt><dd data-figure="requests" data-value="${t.requests}">${count(t.requests)}</dd></div>
<div><dt>Compared</dt><dd data-figure="compared" data-value="${t.compared}">${count(t.compared)}</dd></div>
<div><dt>Mismatch rate</dt><dd data-figure="mismatch-rate" data-value="${t.mismatchRate}" class="${t.mismatch ? 'bad' : ''}">${percent(t.mismatchRate)}</dd></div>
</dl>
<p class="reason">${esc(s.verdict.reasons[0] ?? '')}</p>
</article>`;
}

function figure(caption: string, legendHtml: string, svg: string, note?: string): string {
  return `<figure><figcaption>${esc(caption)}</figcaption>${legendHtml}${svg}${note ? `<p class="note">${esc(note)}</p>` : ''}</figure>`;
}

const legend = (series: ChartSeries[]) =>
  `<div class="legend">${series.map((s) => `<span><i style="background:${s.color}"></i>${esc(s.name)}</span>`).join('')}</div>`;

function serviceSection(s: ServiceReport, times: number[], xDomain: [number, number], thresholds: Thresholds): string {
  const t = s.totals;
  const latency: ChartSeries[] = [
    { name: 'legacy', color: LEGACY_COLOR, values: s.series.map((p) => p.legacyAvgMs) },
    { name: 'new', color: NEW_COLOR, values: s.series.map((p) => p.newAvgMs) },
  ];
  const errors: ChartSeries[] = [
    { name: 'legacy', color: LEGACY_COLOR, values: s.series.map((p) => (p.requests ? p.legacyErrorRate : null)) },
    { name: 'new', color: NEW_COLOR, values: s.series.map((p) => (p.requests ? p.newErrorRate : null)) },
  ];
  const id = s.service;
  return `<section class="panel service" id="svc-${esc(id)}" data-service="${esc(id)}">
<div class="service-head"><h2>${esc(id)}</h2><span class="stage">${esc(s.stage)}</span><span class="verdict ${verdictClass(s.verdict.verdict)}">${VERDICT_LABEL[s.verdict.verdict]}${s.verdict.next ? ` → ${esc(s.verdict.next)}` : ''}</span></div>
<div class="reasons ${verdictClass(s.verdict.verdict)}"><ul>${s.verdict.reasons.map((x) => `<li>${esc(x)}</li>`).join('')}</ul></div>
${s.heldBack ? `<p class="held-back bad" data-figure="held-back">${esc(heldBackLine(s.service, s.heldBack))}</p>` : ''}
${SIDES.map((side) => {
  const since = s.behindSince[side];
  return since ? `<p class="held-back bad" data-figure="${side}-behind">${esc(behindLine(s.service, side, since))}</p>` : '';
}).join('')}
<div class="split">
<table class="figures"><caption>Requests and comparisons</caption><tbody>
${row('Served', `<span data-figure="served" data-value="${s.served.requests}">${count(s.served.requests)}</span> ${esc(servedErrors(s.served))}`)}
${row('Shadowed reads', `<span data-figure="requests" data-value="${t.requests}">${count(t.requests)}</span>`)}
${row('Compared', `<span data-figure="compared" data-value="${t.compared}">${count(t.compared)}</span>`)}
${row('Matched', count(t.match))}
${row('Mismatched', count(t.mismatch))}
${row('Mismatch rate', `<span data-figure="mismatch-rate" data-value="${t.mismatchRate}">${percent(t.mismatchRate)}</span>`)}
${row('Kinds of mismatch', `<span data-figure="kinds">${esc(kindsLine(s.comparison.kinds, s.comparison.offsets, s.service))}</span>`)}
${row('Skipped (write in flight)', `<span data-figure="skipped" data-rechecked="${s.comparison.skipped.rechecked}" data-never="${s.comparison.skipped.neverCompared}">${skippedLine(s.comparison.skipped)}</span>`)}
${row('Not compared (reply too large)', `<span data-figure="too-large" data-value="${s.comparison.tooLarge}">${count(s.comparison.tooLarge)}</span> <small>(${TOO_LARGE})</small>`)}
${row('Legacy errors', `${count(t.legacyError)} <small>(${percent(t.legacyErrorRate)})</small>`)}
${row('New errors', `${count(t.newError)} <small>(${percent(t.newErrorRate)})</small>`)}
${row('Latency avg, legacy / new', `${ms(t.legacyAvgMs)} / ${ms(t.newAvgMs)} <small>(${signedMs(t.addedLatencyMs)})</small>`)}
${row('Latency max, legacy / new', `${ms(t.legacyMaxMs)} / ${ms(t.newMaxMs)}`)}
${row('Outbox depth / dead', `${count(s.outbox.depth)} / ${count(s.outbox.dead)}`)}
${row('Unknown outcomes / settled / time to settle', `<span data-figure="unknown-outcomes" data-value="${s.unknowns.seen}">${unknownLine(s.unknowns)}</span>`)}
</tbody></table>
${flagsTable(s.flags)}
</div>
<div class="charts">
${figure('Average latency of compared reads', legend(latency), lineChart({ id: `latency-${id}`, title: `${id} latency, legacy vs new`, times, xDomain, series: latency, yFormat: (v) => `${v} ms`, width: 520 }))}
${figure('Error rate of shadowed reads', legend(errors), lineChart({ id: `errors-${id}`, title: `${id} error rates, legacy vs new`, times, xDomain, series: errors, yFormat: percent, width: 520, threshold: { value: thresholds.errorRate, label: `new-side threshold ${percent(thresholds.errorRate)}` } }))}
</div>
${actionsTable(s)}
${fieldsTable(s)}
${noiseTable(s)}
${samplesTable(s)}
${reconcileTable(s)}
${guardTable(s)}
</section>`;
}

const row = (label: string, value: string) => `<tr><th scope="row">${esc(label)}</th><td>${value}</td></tr>`;

function flagState(f: FlagState): string {
  if (f.forcedOff) return '<span class="pill off">forced off</span>';
  if (f.held) return `<span class="pill off">${esc(flagWords(f))}</span>`;
  if (!f.enabled) return '<span class="pill off">off</span>';
  return f.rollout === undefined ? '<span class="pill on">on</span>' : `<span class="pill on">on · ${f.rollout}%</span>`;
}

const flagsTable = (flags: Record<string, FlagState>) =>
  `<table class="flags"><caption>Flags now</caption><tbody>${Object.entries(flags)
    .map(([name, f]) => row(shortFlagName(name), flagState(f)))
    .join('')}</tbody></table>`;

function actionsTable(s: ServiceReport): string {
  if (!s.actions.length) return '';
  return `<h3>Shadowed reads by action</h3><table class="data"><thead><tr><th>Action</th><th class="n">Reads</th><th class="n">Compared</th><th class="n">Mismatched</th><th class="n">Mismatch rate</th><th class="n">New errors</th><th class="n">Latency legacy / new</th></tr></thead><tbody>${s.actions
    .map(
      (a) =>
        `<tr><td><code>${esc(a.action)}</code></td><td class="n">${count(a.requests)}</td><td class="n">${count(a.compared)}</td><td class="n">${count(a.mismatch)}</td><td class="n">${percent(a.mismatchRate)}</td><td class="n">${count(a.newError)}</td><td class="n">${ms(a.legacyAvgMs)} / ${ms(a.newAvgMs)}</td></tr>`,
    )
    .join('')}</tbody></table>`;
}

function noiseTable(s: ServiceReport): string {
  const rows = noiseRows(s.comparison.noise);
  if (!rows.length) return '';
  return `<h3>Noise baseline (A/A)</h3><p class="note">Fields that differ between two reads of legacy for the same request; discounted from mismatches while their A/A share explains the A/B share.</p><table class="data"><thead><tr><th>Action</th><th>Field</th><th class="n">A/A pairs</th><th class="n">Differs A/A</th><th class="n">Discounted</th></tr></thead><tbody>${rows
    .map(
      (r) =>
        `<tr><td><code>${esc(r.action)}</code></td><td><code>${esc(r.field)}</code></td><td class="n">${count(r.aaReads)}</td><td class="n">${r.aaShare}</td><td class="n">${r.discounted}</td></tr>`,
    )
    .join('')}</tbody></table>`;
}

function fieldsTable(s: ServiceReport): string {
  if (!s.topFields.length) return `<h3>Top differing fields</h3><p class="empty-note">No mismatch samples today.</p>`;
  const max = Math.max(...s.topFields.map((f) => f.count));
  return `<h3>Top differing fields</h3><table class="data"><thead><tr><th>Field path</th><th class="n">Samples</th><th></th></tr></thead><tbody>${s.topFields
    .map(
      (f) =>
        `<tr><td><code>${esc(f.path)}</code></td><td class="n">${count(f.count)}</td><td class="bar-cell"><span class="bar" style="width:${((f.count / max) * 100).toFixed(1)}%"></span></td></tr>`,
    )
    .join('')}</tbody></table><p class="note">Counted over the mismatch samples kept (store.sampleCapPerRoute per action).</p>`;
}

function samplesTable(s: ServiceReport): string {
  if (!s.samples.length) return '';
  const rows = s.samples.flatMap((sample) =>
    sample.diffs.map(
      (d, i) =>
        `<tr>${i === 0 ? `<td rowspan="${sample.diffs.length}">${hhmm(sample.at)}</td><td rowspan="${sample.diffs.length}"><code>${esc(sample.action)}</code></td>` : ''}<td><code>${esc(d.path)}</code></td><td class="val">${esc(shown(d.legacy))}</td><td class="val">${esc(shown(d.new))}</td></tr>`,
    ),
  );
  return `<h3>Sample diffs</h3><table class="data diffs"><thead><tr><th>Time</th><th>Action</th><th>Path</th><th>Legacy</th><th>New</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function reconcileTable(s: ServiceReport): string {
  if (!s.reconcile.length) return `<h3>Reconciliation</h3><p class="empty-note">No reconciliation run today.</p>`;
  const rows = s.reconcile.map(
    (r) =>
      `<tr><td>#${r.id}</td><td>${hhmm(r.startedAt)}</td><td>${esc(r.trigger)}${r.repair ? ' + repair' : ''}</td><td><span class="pill ${r.status === 'done' ? (r.remaining ? 'warn' : 'on') : r.status === 'failed' ? 'bad' : 'off'}">${esc(r.status)}</span></td><td class="n">${count(r.legacyRecords)} / ${count(r.newRecords)}</td><td class="n">${count(r.missingInNew)}</td><td class="n">${count(r.missingInLegacy)}</td><td class="n">${count(r.differing)}</td><td class="n">${count(r.repaired)}</td><td class="n"><strong>${count(r.remaining)}</strong>${r.queued ? `<br><span class="sub" title="keys with writes still on their way to the secondary when the run ended: the next run judges them again">${count(r.queued)} queued</span>` : ''}</td></tr>`,
  );
  const latest = s.reconcile.find((r) => r.samples.length);
  const samples = latest
    ? `<table class="data diffs"><caption>Differences of run #${latest.id}</caption><thead><tr><th>Key</th><th>Kind</th><th>Path</th><th>Legacy</th><th>New</th></tr></thead><tbody>${latest.samples
        .map((d) => {
          const diffs = d.diffs.length ? d.diffs : [{ path: '', legacy: '', new: '' }];
          return diffs
            .map(
              (f, i) =>
                `<tr>${i === 0 ? `<td rowspan="${diffs.length}"><code>${esc(d.key)}</code></td><td rowspan="${diffs.length}">${esc(d.kind.replaceAll('_', ' '))}${d.queued ? '<br><span class="sub">writes queued</span>' : ''}</td>` : ''}<td><code>${esc(f.path)}</code></td><td class="val">${f.path ? esc(shown(f.legacy)) : ''}</td><td class="val">${f.path ? esc(shown(f.new)) : ''}</td></tr>`,
            )
            .join('');
        })
        .join('')}</tbody></table>`
    : '';
  return `<h3>Reconciliation</h3><table class="data"><thead><tr><th>Run</th><th>Started</th><th>Trigger</th><th>Status</th><th class="n">Records legacy / new</th><th class="n">Missing in new</th><th class="n">Missing in legacy</th><th class="n">Differing</th><th class="n">Repaired</th><th class="n">Remaining</th></tr></thead><tbody>${rows.join('')}</tbody></table>${samples}`;
}

function guardTable(s: ServiceReport): string {
  if (!s.guardEvents.length) return `<h3>Guard events</h3><p class="empty-note">The guard did not act today.</p>`;
  return `<h3>Guard events</h3><table class="data"><thead><tr><th>Time</th><th>Stage</th><th>Breaches</th><th>Flags changed</th></tr></thead><tbody>${s.guardEvents
    .map(
      (e) =>
        `<tr><td>${hhmm(e.at)}</td><td>${esc(e.stage)}</td><td>${e.kind === 'resume' ? RESUMED : e.breaches.map((b) => esc(breach(b))).join('<br>')}</td><td>${e.movedNoReads ? esc(`none: ${e.movedNoReads}`) : e.flagsChanged.map((f) => esc(`${f.flag} → ${f.to}`)).join('<br>')}</td></tr>`,
    )
    .join('')}</tbody></table>`;
}

function footer(r: ReportData): string {
  const t = r.thresholds;
  return `<footer><h2>Thresholds</h2><p>Roll back when the mismatch rate exceeds <strong>${percent(t.mismatchRate)}</strong>, the new side's error rate exceeds <strong>${percent(t.errorRate)}</strong> (from ${count(t.errorMinSamples)} reads) or it is slower by more than <strong>${t.addedLatencyMs} ms</strong> on average (from ${count(t.latencyMinSamples)} reads), or when the guard tripped. Advance needs <strong>${count(t.minComparisons)}</strong> compared reads${t.requireReconcile ? ' and a clean reconciliation run' : ''} in the day; otherwise hold.</p>
<p class="note">Served: every request a service answered, its errors those whose primary failed (comparison_tallies, served.*); shadowed reads: the reads sent to both sides (comparison_counts); day window ${esc(stamp(r.window.from))} – ${esc(stamp(r.window.to))}. Report format v${r.version}; the same data is in ${esc(r.date)}.json.</p></footer>`;
}

const CSS = `
:root{--ink:#0f172a;--muted:#64748b;--line:#e2e8f0;--bg:#f8fafc;--card:#fff;--ok:#15803d;--ok-bg:#dcfce7;--warn:#b45309;--warn-bg:#fef3c7;--bad:#b91c1c;--bad-bg:#fee2e2}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1180px;margin:0 auto;padding:28px 24px 48px}
h1{font-size:26px;margin:2px 0 4px;letter-spacing:-.01em}
h2{font-size:18px;margin:0}
h3{font-size:14px;margin:22px 0 8px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
code{font:12.5px/1.3 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
a{color:inherit}
.top{margin-bottom:20px}
.brand{font-weight:700;color:#4f46e5;letter-spacing:.06em;text-transform:uppercase;font-size:12px}
.meta{color:var(--muted);margin:0}
.bad{color:var(--bad)}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:16px;margin-bottom:20px}
.card{background:var(--card);border:1px solid var(--line);border-top:4px solid var(--muted);border-radius:10px;padding:16px 18px;box-shadow:0 1px 2px rgba(15,23,42,.05)}
.card.v-advance{border-top-color:var(--ok)}.card.v-hold{border-top-color:#f59e0b}.card.v-roll-back{border-top-color:var(--bad)}
.card-head,.service-head{display:flex;align-items:center;gap:10px;flex-wrap:wrap}
.card-head a{text-decoration:none}
.stage{font-size:12px;padding:2px 8px;border-radius:999px;background:#eef2ff;color:#3730a3;font-weight:600}
.verdict-line{margin:12px 0 10px;display:flex;align-items:center;gap:8px}
.verdict{display:inline-block;font-weight:700;font-size:13px;padding:3px 10px;border-radius:6px}
.verdict.v-advance{background:var(--ok-bg);color:var(--ok)}.verdict.v-hold{background:var(--warn-bg);color:var(--warn)}.verdict.v-roll-back{background:var(--bad-bg);color:var(--bad)}
.next{color:var(--muted);font-size:13px}
.kpis{display:grid;grid-template-columns:repeat(2,1fr);gap:8px;margin:0}
.kpis div{background:var(--bg);border-radius:8px;padding:8px 10px}
.kpis dt{font-size:11px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
.kpis dd{margin:2px 0 0;font-size:20px;font-weight:650;font-variant-numeric:tabular-nums}
.reason{margin:10px 0 0;color:#334155;font-size:13px}
.panel{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:18px 20px;margin-bottom:20px;box-shadow:0 1px 2px rgba(15,23,42,.05)}
.note{color:var(--muted);font-size:12px;margin:6px 0 0}
.sub{color:var(--muted);font-size:12px;font-weight:normal}
.empty-note{color:var(--muted);margin:0}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(500px,1fr));gap:18px;margin-top:12px}
figure{margin:0}
figcaption{font-weight:600;margin-bottom:4px}
.legend{display:flex;gap:14px;font-size:12px;color:#334155;margin-bottom:4px}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px;vertical-align:-1px}
svg.chart{max-width:100%;height:auto;display:block}
svg .plot{fill:#fbfdff;stroke:none}
svg .grid{stroke:#e5e9f0;stroke-width:1}
svg .axis{stroke:#94a3b8;stroke-width:1}
svg .tick{fill:#64748b;font-size:11px;font-family:system-ui,sans-serif}
svg .threshold{stroke:#dc2626;stroke-width:1.2;stroke-dasharray:5 4}
svg .threshold-label{fill:#dc2626;font-size:11px;font-family:system-ui,sans-serif}
svg .empty{fill:#94a3b8;font-size:13px;font-family:system-ui,sans-serif}
svg .pt{stroke:#fff;stroke-width:1}
svg .pt.dense{fill-opacity:0;stroke:none}
svg .pt.dense:hover{fill-opacity:1}
.reasons{border-radius:8px;padding:8px 14px;margin:12px 0}
.reasons ul{margin:0;padding-left:18px}
.reasons.v-advance{background:var(--ok-bg)}.reasons.v-hold{background:var(--warn-bg)}.reasons.v-roll-back{background:var(--bad-bg)}
.split{display:grid;grid-template-columns:3fr 2fr;gap:28px;align-items:start}
table{border-collapse:collapse;width:100%}
caption{text-align:left;font-weight:600;padding-bottom:6px}
.figures th,.flags th{text-align:left;font-weight:500;color:#334155;padding:5px 8px 5px 0;border-bottom:1px solid var(--line)}
.figures td,.flags td{text-align:right;padding:5px 0;border-bottom:1px solid var(--line);font-variant-numeric:tabular-nums}
.figures small{color:var(--muted)}
.data th{text-align:left;font-size:12px;color:var(--muted);font-weight:600;border-bottom:2px solid var(--line);padding:6px 8px}
.data td{padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
.data .n{text-align:right;font-variant-numeric:tabular-nums}
.data caption{margin-top:12px}
.val{font:12px/1.3 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:#334155;word-break:break-all}
.bar-cell{width:40%}
.bar{display:block;height:8px;border-radius:4px;background:#a5b4fc}
.pill{display:inline-block;font-size:12px;padding:1px 8px;border-radius:999px;font-weight:600}
.pill.on{background:var(--ok-bg);color:var(--ok)}.pill.off{background:#f1f5f9;color:var(--muted)}.pill.warn{background:var(--warn-bg);color:var(--warn)}.pill.bad{background:var(--bad-bg);color:var(--bad)}
footer{color:#334155;padding:4px 4px 0}
footer h2{font-size:14px;margin-bottom:6px}
@media (max-width:760px){.split{grid-template-columns:1fr}.charts{grid-template-columns:1fr}}
@media print{body{background:#fff}.panel,.card{box-shadow:none}}
`;
