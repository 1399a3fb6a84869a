/** The demo's closing table: per service what was served, compared and found different. */
import type { MigrationStats } from '../../plan/totals.js';
import { serviceNames } from '../../services/registry.js';
import { kindsLine } from '../../report/format.js';

export function formatSummary(stats: MigrationStats): string {
  const lines: string[] = [];
  for (const s of serviceNames()) {
    const t = stats.of(s);
    const rate = t.compared ? ((100 * t.mismatches) / t.compared).toFixed(2) : '0.00';
    const avg = (sum: number) => (t.latency.samples ? (sum / t.latency.samples).toFixed(2) : '-');
    const top = Object.entries(t.fields)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([path, n]) => `${path || '(whole reply)'} x${n}`);
    lines.push(
      `${s}`,
      `  requests ${t.requests} (errors ${t.errors}, served from new ${t.servedFromNew}, fallbacks ${t.fallbacks})`,
      `  compared ${t.compared}, mismatches ${t.mismatches} (${rate}%), shadow errors ${t.shadowErrors}`,
      `  skipped (write in flight) ${t.skipped}: re-checked later ${t.rechecked}, never compared ${t.neverCompared}, waiting ${Math.max(0, t.skipped - t.rechecked - t.neverCompared)}`,
      `  noise baseline: ${t.baselineReads} A/A reads; discounted as noise: ${
        Object.entries(t.noise)
          .map(([k, n]) => `${k || '(whole reply)'} x${n}`)
          .join(', ') || 'none'
      }`,
      `  secondary writes ok ${t.secondaryOk}, failed ${t.secondaryFailed}`,
      `  latency on compared reads: legacy ${avg(t.latency.legacyMs)} ms, new ${avg(t.latency.newMs)} ms (mean)`,
      `  top differing fields: ${top.length ? top.join(', ') : 'none'}`,
      `  kinds of difference: ${kindsLine(t.kinds as Record<string, number>, t.offsets, s)}`,
    );
  }
  return lines.join('\n');
}
