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
