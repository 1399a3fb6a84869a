/**
 * The comparison: two legacy-shaped replies (legacy's and the one rebuilt from the orchestrator)
 * walked together under a route's rules, giving a bounded field-level diff.
 */
import { isLosslessNumber, numberOf } from '../util/pyjson.js';
import { canonicalOrDeep, isEpochTime, isTime, kindOf, MAX_DEPTH, numbersEqual, pick, sameElements, sameNumber, timesWithin, UNCOPYABLE } from './values.js';

export { UNCOPYABLE };
import { parseReply } from './observation.js';
import { compileRules, stepElement, stepKey, type CompiledRules, type ComparisonRules, type RuleNode } from './rules.js';

/**
 * What kind of difference a field diff is: a record (list element, set element or key) only on legacy or only on
 * new, the same elements in another order, a time beyond its tolerance, one number spelt two ways (3.0 / 3), a
 * value of another type, or other content.
 */
export const MISMATCH_KINDS = ['missing_on_new', 'extra_on_new', 'order', 'timestamp', 'number_spelling', 'type', 'content'] as const;
export type MismatchKind = (typeof MISMATCH_KINDS)[number];

export interface FieldDiff {
  /** Concrete path: `context[3].content`, `memories[key=abc].memory.text`; "" is the root. */
  path: string;
  /** `path` in rule-path form (`context[].content`): what per-field counts group by. */
  field: string;
  kind: MismatchKind;
  /** `undefined` (absent once serialised) when that side has no value there. */
  legacy: unknown;
  new: unknown;
}

export interface Comparison {
  equal: boolean;
  diffs: FieldDiff[];
  /** More diffs existed than the rules' `maxDiffs`; the walk stopped there. */
  truncated: boolean;
  /** Values the rules left out (a timestamp per element counts once per element). */
  ignored: number;
}

/** Rules as parsed from config, or any subset of them (missing fields take the schema defaults). */
export type RulesLike = Partial<ComparisonRules>;

const MAX_KEY_LABEL = 80;
const PLAIN_KEY = /^[^.[\]"]+$/;

/** A step of the walk: object key, list index, or a set element named by its key. */
type Step = string | number | { key: string };

/** A reported value must not change when the caller later mutates its reply (numbers as written are immutable). */
function snapshot(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v;
  try {
    return copy(v, 0, new Set());
  } catch {
    return UNCOPYABLE;
  }
}

function copy(v: unknown, depth: number, path: Set<object>): unknown {
  if (typeof v === 'function' || typeof v === 'symbol') throw new Error('uncopyable');
  if (typeof v !== 'object' || v === null || isLosslessNumber(v)) return v;
  if (depth > MAX_DEPTH || path.has(v)) throw new Error('uncopyable');
  path.add(v);
  const out = Array.isArray(v) ? v.map((x) => copy(x, depth + 1, path)) : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, copy(x, depth + 1, path)]));
  path.delete(v);
  return out;
}

function render(steps: readonly Step[], asField: boolean): string {
  let out = '';
  for (const s of steps) {
    if (typeof s === 'string') out += PLAIN_KEY.test(s) ? (out ? '.' : '') + s : `[${JSON.stringify(s)}]`;
    else if (asField) out += '[]';
    else out += typeof s === 'number' ? `[${s}]` : `[key=${s.key}]`;
  }
  return out;
}

class Walk {
  readonly diffs: FieldDiff[] = [];
  truncated = false;
  ignored = 0;
  private readonly steps: Step[] = [];

  constructor(private readonly rules: CompiledRules) {}

  value(a: unknown, b: unknown, nodes: readonly RuleNode[], depth: number): void {
    let tolerance = 0;
    let setKey: string[] | undefined;
    for (const n of nodes) {
      if (n.ignore) {
        this.ignored++;
        return;
      }
      if (n.tolerance !== undefined) tolerance = Math.max(tolerance, n.tolerance);
      setKey ??= n.setKey;
    }
    const kind = kindOf(a);
    // Times anywhere get the rules' time tolerance (each side stamps its own); a path's own tolerance wins.
    if (tolerance === 0 && this.rules.timeToleranceS > 0 && (kind === 'number' ? isEpochTime(a) && isEpochTime(b) : isTime(a) && isTime(b)))
      tolerance = this.rules.timeToleranceS;
    if (kind !== kindOf(b)) return this.report(a, b, kind === 'undefined' ? 'extra_on_new' : kindOf(b) === 'undefined' ? 'missing_on_new' : 'type');
    if (depth > MAX_DEPTH) return a === b ? undefined : this.report(UNCOPYABLE, UNCOPYABLE, 'content');
    switch (kind) {
      case 'number':
        // Within a tolerance (timestamps) the value counts; otherwise its spelling too (3.0 is not 3 on the wire).
        if (tolerance > 0) {
          if (!numbersEqual(numberOf(a)!, numberOf(b)!, tolerance)) this.report(a, b, 'timestamp');
        } else if (!sameNumber(a, b)) this.report(a, b, numbersEqual(numberOf(a)!, numberOf(b)!, 0) ? 'number_spelling' : 'content');
        return;
      case 'string': {
        const trim = this.rules.trimStrings;
        // Under a tolerance, two ISO-8601 times (the agents' local timestamps) are compared as times.
        if (tolerance > 0 && a !== b && timesWithin(a as string, b as string, tolerance)) return;
        if (trim ? (a as string).trim() !== (b as string).trim() : a !== b)
          this.report(a, b, tolerance > 0 && isTime(a) && isTime(b) ? 'timestamp' : 'content');
        return;
      }
      case 'array':
        if (setKey) return this.set(a as unknown[], b as unknown[], setKey, stepElement(nodes), depth);
        return this.list(a as unknown[], b as unknown[], stepElement(nodes), depth);
      case 'object':
        return this.object(a as Record<string, unknown>, b as Record<string, unknown>, nodes, depth);
      default:
        if (!Object.is(a, b)) this.report(a, b, 'content');
    }
  }

  private at(step: Step, a: unknown, b: unknown, nodes: readonly RuleNode[], depth: number): void {
    this.steps.push(step);
    this.value(a, b, nodes, depth + 1);
    this.steps.pop();
  }

  private list(a: unknown[], b: unknown[], nodes: readonly RuleNode[], depth: number): void {
    const before = this.diffs.length;
    const n = Math.max(a.length, b.length);
    for (let i = 0; i < n && !this.truncated; i++) this.at(i, a[i], b[i], nodes, depth);
    // The same elements in another order is one difference of order, not one per element (looked at only once
    // elements differed, so an equal list costs nothing more).
    // Past the walk's depth values are told apart by identity only: no reclassification there.
    if (this.diffs.length === before || this.truncated || depth > MAX_DEPTH) return;
    if (a.length === b.length) {
      if (!sameElements(a, b, this.rules.trimStrings)) return;
      this.diffs.length = before;
      this.report(a, b, 'order');
      return;
    }
    // One side holds the other's elements in order plus some: those are records missing on new / extra on new,
    // not every later element shifted by one.
    const [long, short] = a.length > b.length ? [a, b] : [b, a];
    const unmatched: number[] = [];
    let j = 0;
    for (let i = 0; i < long.length; i++) {
      if (j < short.length && this.equalUnder(long[i], short[j], nodes, depth)) j++;
      else unmatched.push(i);
    }
    if (j < short.length) return;
    this.diffs.length = before;
    for (const i of unmatched) this.at(i, long === a ? a[i] : undefined, long === b ? b[i] : undefined, nodes, depth);
  }

  /** Whether two values compare equal under the same rules (a walk of their own). */
  private equalUnder(x: unknown, y: unknown, nodes: readonly RuleNode[], depth: number): boolean {
    const walk = new Walk(this.rules);
    walk.value(x, y, nodes, depth + 1);
    return walk.diffs.length === 0;
  }

  private object(a: Record<string, unknown>, b: Record<string, unknown>, nodes: readonly RuleNode[], depth: number): void {
    for (const k of Object.keys(a)) {
      if (this.truncated) return;
      this.at(k, a[k], Object.hasOwn(b, k) ? b[k] : undefined, stepKey(nodes, k), depth);
    }
    for (const k of Object.keys(b)) {
      if (this.truncated) return;
      if (!Object.hasOwn(a, k)) this.at(k, undefined, b[k], stepKey(nodes, k), depth);
    }
  }

  /** Elements matched by key; the n-th duplicate of a key on one side meets the n-th on the other. */
  private set(a: unknown[], b: unknown[], keyPath: string[], nodes: readonly RuleNode[], depth: number): void {
    const trim = this.rules.trimStrings;
    const keyOf = (x: unknown) => canonicalOrDeep(pick(x, keyPath), trim);
    const step = (x: unknown, nth: number): Step => {
      const k = pick(x, keyPath);
      let label = typeof k === 'string' ? k : canonicalOrDeep(k, trim);
      if (label.length > MAX_KEY_LABEL) label = `${label.slice(0, MAX_KEY_LABEL)}…`;
      return { key: nth ? `${label}#${nth + 1}` : label };
    };
    const candidates = new Map<string, unknown[]>();
    for (const x of b) {
      const k = keyOf(x);
      const same = candidates.get(k);
      if (same) same.push(x);
      else candidates.set(k, [x]);
    }
    const seen = new Map<string, number>();
    for (const x of a) {
      if (this.truncated) return;
      const k = keyOf(x);
      const nth = seen.get(k) ?? 0;
      seen.set(k, nth + 1);
      this.at(step(x, nth), x, candidates.get(k)?.[nth], nodes, depth);
    }
    for (const [k, xs] of candidates) {
      for (let nth = seen.get(k) ?? 0; nth < xs.length && !this.truncated; nth++) {
        this.at(step(xs[nth], nth), undefined, xs[nth], nodes, depth);
      }
    }
  }

  private report(a: unknown, b: unknown, kind: MismatchKind): void {
    if (this.diffs.length >= this.rules.maxDiffs) {
      this.truncated = true;
      return;
    }
    this.diffs.push({ path: render(this.steps, false), field: render(this.steps, true), kind, legacy: snapshot(a), new: snapshot(b) });
  }
}

/** Compares a legacy reply with the candidate rebuilt from the new side. Never mutates either. */
export function compare(legacy: unknown, candidate: unknown, rules: RulesLike): Comparison {
  const compiled = compileRules(rules);
  const walk = new Walk(compiled);
  walk.value(legacy, candidate, [compiled.root], 0);
  return { equal: walk.diffs.length === 0, diffs: walk.diffs, truncated: walk.truncated, ignored: walk.ignored };
}

/** Compares two reply frames; a frame that is not JSON is compared as raw text. */
export function comparePayloads(legacy: Uint8Array | string, candidate: Uint8Array | string, rules: RulesLike): Comparison {
  return compare(parseReply(Buffer.from(legacy)), parseReply(Buffer.from(candidate)), rules);
}
