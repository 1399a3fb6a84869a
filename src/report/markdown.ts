/** The report as a Markdown summary: verdicts, figures and findings per service, without the charts. */
import type { ReportData, ServiceReport } from './data.js';
import { SIDES } from '../plan/plan.js';
import { flagWords } from '../flags/stage.js';
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
import { shortFlagName } from '../flags/names.js';

/** Keeps a cell on one table row. */
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

export function renderMarkdown(r: ReportData): string {
  const lines = [
    `# memshift daily reconciliation report — ${r.date} (UTC)`,
    '',
    `Generated ${stamp(r.generatedAt)} · flags from ${r.flagSource}${r.killSwitch ? ' · **kill switch on**' : ''} · ${r.redacted ? 'memory values redacted' : '**memory values shown**'}`,
    '',
    '| Service | Stage | Verdict | Served | Served errors | Shadowed reads | Compared | Mismatch rate | New errors | Outbox depth | Reason |',
    '|---|---|---|--:|--:|--:|--:|--:|--:|--:|---|',
    ...r.services.map((s) => {
      const t = s.totals;
      const verdict = `**${VERDICT_LABEL[s.verdict.verdict]}**${s.verdict.next ? ` → ${s.verdict.next}` : ''}`;
      return `| ${s.service} | ${s.stage} | ${verdict} | ${count(s.served.requests)} | ${count(s.served.backendError)} | ${count(t.requests)} | ${count(t.compared)} | ${percent(t.mismatchRate)} | ${count(t.newError)} | ${count(s.outbox.depth)} | ${cell(s.verdict.reasons[0] ?? '')} |`;
    }),
    '',
    ...r.services.flatMap(serviceMarkdown),
    '## Thresholds',
    '',
    `Roll back over a ${percent(r.thresholds.mismatchRate)} mismatch rate, a ${percent(r.thresholds.errorRate)} new-side error rate ` +
      `or ${r.thresholds.addedLatencyMs} ms added latency, or when the guard tripped; advance with ${count(r.thresholds.minComparisons)} compared reads` +
      `${r.thresholds.requireReconcile ? ' and a clean reconciliation run' : ''}; otherwise hold. Served: every request answered (its errors: the primary failed); shadowed reads: the reads sent to both sides.`,
    '',
  ];
  return lines.join('\n');
}

function serviceMarkdown(s: ServiceReport): string[] {
  const t = s.totals;
  const flags = Object.entries(s.flags)
    .map(([name, f]) => `${shortFlagName(name)} ${flagWords(f)}`)
    .join(', ');
  const out = [
    `## ${s.service} — ${VERDICT_LABEL[s.verdict.verdict]}${s.verdict.next ? ` → ${s.verdict.next}` : ''}`,
    '',
    ...s.verdict.reasons.map((x) => `- ${x}`),
    '',
    `Stage **${s.stage}**; flags now: ${flags}.`,
    ...(s.heldBack ? ['', `**${heldBackLine(s.service, s.heldBack)}**`] : []),
    ...SIDES.flatMap((side) => {
      const since = s.behindSince[side];
      return since ? ['', `**${behindLine(s.service, side, since)}**`] : [];
    }),
    '',
    '| Figure | Value |',
    '|---|--:|',
    `| Requests served | ${count(s.served.requests)} ${servedErrors(s.served)} |`,
    `| Shadowed reads | ${count(t.requests)} |`,
    `| Compared | ${count(t.compared)} |`,
    `| Mismatched | ${count(t.mismatch)} |`,
    `| Mismatch rate | ${percent(t.mismatchRate)} |`,
    `| Kinds of mismatch | ${kindsLine(s.comparison.kinds, s.comparison.offsets, s.service)} |`,
    `| Skipped (write in flight) | ${skippedLine(s.comparison.skipped)} |`,
    `| Not compared (reply too large) | ${count(s.comparison.tooLarge)} (${TOO_LARGE}) |`,
    `| Legacy errors | ${count(t.legacyError)} (${percent(t.legacyErrorRate)}) |`,
    `| New errors | ${count(t.newError)} (${percent(t.newErrorRate)}) |`,
    `| Latency avg legacy / new | ${ms(t.legacyAvgMs)} / ${ms(t.newAvgMs)} (${signedMs(t.addedLatencyMs)}) |`,
    `| Outbox depth / dead | ${count(s.outbox.depth)} / ${count(s.outbox.dead)} |`,
    `| Unknown outcomes / settled / time to settle | ${unknownLine(s.unknowns)} |`,
    '',
  ];
  if (s.topFields.length) {
    out.push('Top differing fields:', '', ...s.topFields.map((f) => `- \`${f.path}\` — ${count(f.count)} sample(s)`), '');
  }
  const noise = noiseRows(s.comparison.noise);
  if (noise.length) {
    out.push('Noise baseline (A/A):', '', '| Action | Field | A/A pairs | Differs A/A | Discounted |', '|---|---|--:|--:|--:|');
    for (const r of noise) out.push(`| ${r.action} | \`${cell(r.field)}\` | ${count(r.aaReads)} | ${r.aaShare} | ${r.discounted} |`);
    out.push('');
  }
  if (s.samples.length) {
    out.push('Sample diffs:', '', '| Time | Action | Path | Legacy | New |', '|---|---|---|---|---|');
    for (const sample of s.samples) {
      for (const d of sample.diffs)
        out.push(`| ${hhmm(sample.at)} | ${sample.action} | \`${cell(d.path)}\` | ${cell(shown(d.legacy))} | ${cell(shown(d.new))} |`);
    }
    out.push('');
  }
  if (s.reconcile.length) {
    out.push(
      'Reconciliation runs:',
      '',
      '| Run | Started | Status | Missing in new | Missing in legacy | Differing | Repaired | Remaining |',
      '|---|---|---|--:|--:|--:|--:|--:|',
    );
    for (const r of s.reconcile) {
      out.push(
        `| #${r.id} ${r.trigger}${r.repair ? ' + repair' : ''} | ${hhmm(r.startedAt)} | ${r.status} | ${r.missingInNew} | ${r.missingInLegacy} | ${r.differing} | ${r.repaired} | ${r.remaining}${r.queued ? ` (${r.queued} queued)` : ''} |`,
      );
    }
    out.push('');
    if (s.reconcile.some((r) => r.queued))
      out.push('Queued: differences whose keys still had writes on their way to the secondary when the run ended; the next run judges them again.', '');
  } else {
    out.push('No reconciliation run today.', '');
  }
  if (s.guardEvents.length) {
    out.push('Guard events:', '');
    for (const e of s.guardEvents) {
      const kept = e.movedNoReads ? `; nothing rolled back: ${e.movedNoReads}` : '';
      out.push(`- ${hhmm(e.at)} in ${e.stage}: ${e.kind === 'resume' ? RESUMED : e.breaches.map(breach).join(', ')}${kept}`);
    }
    out.push('');
  }
  return out;
}
