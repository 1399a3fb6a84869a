/** How many decimals show a figure apart from the limit it is judged by: never "0.10% > 0.10%" for 0.1008%. */

/** The fewest decimals, `digits` or more (up to 6 more), at which `value` and `limit` read differently. */
export function digitsApart(value: number, limit: number, digits: number): number {
  for (let d = digits; d <= digits + 6; d++) if (value.toFixed(d) !== limit.toFixed(d)) return d;
  return digits;
}
