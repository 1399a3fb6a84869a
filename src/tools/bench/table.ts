/** The bench's result tables, as Markdown so they paste into the README unchanged. */
export function table(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line), ''].join('\n');
}

/** Milliseconds in the tables: two decimals; differences carry their sign. */
export const ms = (n: number): string => n.toFixed(2);
export const signedMs = (n: number): string => `${n < 0 ? '' : '+'}${ms(n)}`;

/** Columns and a row of a latency table: counts, p50 / p99 and each one's difference from a baseline measured in the same run. */
export const LATENCY_COLUMNS = ['requests', 'errors', 'p50 ms', 'p99 ms', 'added p50', 'added p99'];
export function latencyRow(name: string, x: Latencies, base: Latencies): string[] {
  return [name, String(x.requests), String(x.errors), ms(x.p50), ms(x.p99), signedMs(x.p50 - base.p50), signedMs(x.p99 - base.p99)];
}

interface Latencies {
  requests: number;
  errors: number;
  p50: number;
  p99: number;
}
