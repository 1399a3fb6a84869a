/** A key range [from, to) (an absent bound is open) as an SQLite WHERE clause on one column, with its parameters. */
import type { KeyBounds } from './records.js';

export function rangeWhere(column: string, range: KeyBounds): { where: string; values: string[] } {
  const bounds = [
    { value: range.from, cond: `${column} >= ?` },
    { value: range.to, cond: `${column} < ?` },
  ].filter((b): b is { value: string; cond: string } => b.value !== undefined);
  return { where: bounds.length ? `WHERE ${bounds.map((b) => b.cond).join(' AND ')}` : '', values: bounds.map((b) => b.value) };
}
