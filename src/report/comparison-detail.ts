/**
 * The report's reading of a day's comparison tallies (src/store/tallies.ts) for one service: mismatches per
 * kind of difference (and the offset their times stood apart), what became of the reads skipped for a write in
 * flight, the reads too large to compare, and the A/A noise baseline.
 */
import type { TallyRow } from '../store/tallies.js';
import type { CountsRow } from '../store/index.js';

export interface ComparisonDetail {
  /** Mismatching comparisons per kind of difference (one comparison counts once per kind it shows). */
  kinds: Record<string, number>;
  /** Mismatching comparisons whose times all stood one offset apart, per offset (new minus legacy, seconds). */
  offsets: Record<string, number>;
  /** Reads skipped for a write in flight: compared later, given up (by why), or still waiting when the report was made. */
  skipped: { reads: number; rechecked: number; neverCompared: number; waiting: number; givenUp: Record<string, number> };
  /** Shadowed reads not compared: legacy's reply over shadow.maxCompareBytes (src/plan/large-replies.ts). */
  tooLarge: number;
  /** Per action: A/A pairs read, and per field how often it differed A/A and how often it was discounted A/B. */
  noise: { action: string; aaReads: number; fields: { field: string; aaDiffs: number; aaShare: number; discounted: number }[] }[];
}

export function comparisonDetail(rows: readonly TallyRow[], service: string, counts: Pick<CountsRow, 'skipped' | 'rechecked'>): ComparisonDetail {
  const kinds: Record<string, number> = {};
  const offsets: Record<string, number> = {};
  const givenUp: Record<string, number> = {};
  const actions = new Map<string, { aaReads: number; fields: Map<string, { aaDiffs: number; discounted: number }> }>();
  const action = (name: string) => {
    let a = actions.get(name);
    if (!a) actions.set(name, (a = { aaReads: 0, fields: new Map() }));
    return a;
  };
  const field = (name: string, f: string) => {
    const fields = action(name).fields;
    let x = fields.get(f);
    if (!x) fields.set(f, (x = { aaDiffs: 0, discounted: 0 }));
    return x;
  };
  const add = (m: Record<string, number>, k: string, n: number) => (m[k] = (m[k] ?? 0) + n);
  let tooLarge = 0;
  for (const r of rows) {
    if (r.service !== service) continue;
    const [family, rest] = split(r.tally);
    if (family === 'kind') add(kinds, rest, r.count);
    else if (family === 'offset') add(offsets, rest, r.count);
    else if (family === 'noise') field(r.action, rest).discounted += r.count;
    else if (family === 'recheck' && rest.startsWith(GIVEN_UP)) add(givenUp, rest.slice(GIVEN_UP.length), r.count);
    else if (family === 'uncompared' && rest === 'too_large') tooLarge += r.count;
    else if (family === 'aa' && rest === 'reads') action(r.action).aaReads += r.count;
    else if (family === 'aa' && rest.startsWith(DIFF)) field(r.action, rest.slice(DIFF.length)).aaDiffs += r.count;
  }
  const neverCompared = Object.values(givenUp).reduce((a, n) => a + n, 0);
  return {
    kinds,
    offsets,
    skipped: {
      reads: counts.skipped,
      rechecked: counts.rechecked,
      neverCompared,
      waiting: Math.max(0, counts.skipped - counts.rechecked - neverCompared),
      givenUp,
    },
    tooLarge,
    noise: [...actions].map(([name, a]) => ({
      action: name,
      aaReads: a.aaReads,
      fields: [...a.fields].map(([f, x]) => ({ field: f, aaDiffs: x.aaDiffs, aaShare: a.aaReads ? x.aaDiffs / a.aaReads : 0, discounted: x.discounted })),
    })),
  };
}

const GIVEN_UP = 'given_up.';
const DIFF = 'diff.';

/** `kind.content` -> ['kind', 'content']; a field path may hold dots of its own. */
function split(tally: string): [string, string] {
  const i = tally.indexOf('.');
  return i < 0 ? [tally, ''] : [tally.slice(0, i), tally.slice(i + 1)];
}
