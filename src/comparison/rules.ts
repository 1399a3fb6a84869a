/**
 * Comparison rules as data: per route, which fields are not compared, which lists are sets, which
 * numbers get a tolerance. Validated by zod so config can carry them; compiled once into a path trie
 * the comparison walks alongside the replies.
 *
 * Path syntax: dot-separated keys, `[]` = every element of a list, `*` = any object key; "" is the
 * root (a bare reply such as contextual-memory's `true` / `null`). Example: `context[].timestamp`.
 */
import { z } from 'zod';

const ANY_KEY = '*';
const EVERY_ELEMENT = '[]';

const SEGMENT = /^([^.[\]]*)((?:\[\])*)$/;

/** Splits a rule path into steps: key names, `*` and `[]`. Throws on a malformed path. */
export function parseRulePath(path: string): string[] {
  if (path === '') return [];
  const steps: string[] = [];
  for (const segment of path.split('.')) {
    const m = SEGMENT.exec(segment);
    if (!m || segment === '') throw new Error(`bad comparison path "${path}" (use a.b, list[].field, *.x)`);
    if (m[1]) steps.push(m[1]);
    for (let i = 0; i < m[2]!.length; i += 2) steps.push(EVERY_ELEMENT);
  }
  return steps;
}

const isRulePath = (p: string): boolean => {
  try {
    parseRulePath(p);
    return true;
  } catch {
    return false;
  }
};

const rulePath = z.string().refine(isRulePath, 'bad comparison path (use a.b, list[].field, *.x)');
/** Where a set element's identity is read: plain keys only; "" = the element itself. */
const keyPath = z.string().regex(/^$|^[^.[\]]+(\.[^.[\]]+)*$/, 'set key path must be plain keys like "id" or "a.b", or ""');

const ruleFields = {
  /** Paths whose values (and presence) are not compared. */
  ignore: z.array(rulePath),
  /** List path -> key path: the list is compared as a set of elements matched by that key. */
  sets: z.record(rulePath, keyPath),
  /** Number path -> absolute tolerance (inclusive). */
  tolerance: z.record(rulePath, z.number().nonnegative()),
  /** Compare strings with surrounding whitespace removed. */
  trimStrings: z.boolean(),
  /** Times anywhere in the reply (ISO-8601 strings, epoch-second floats) within this many seconds are equal. */
  timeToleranceS: z.number().nonnegative(),
  /** At most this many diffs are reported per comparison; the rest is cut (`truncated`). */
  maxDiffs: z.number().int().positive(),
};

export const comparisonRulesSchema = z.strictObject({
  ignore: ruleFields.ignore.default([]),
  sets: ruleFields.sets.default({}),
  tolerance: ruleFields.tolerance.default({}),
  trimStrings: ruleFields.trimStrings.default(false),
  timeToleranceS: ruleFields.timeToleranceS.default(0),
  maxDiffs: ruleFields.maxDiffs.default(50),
});
export type ComparisonRules = z.infer<typeof comparisonRulesSchema>;

/** A route's override in config: merged onto the defaults unless `inherit: false`. */
const comparisonRulesOverrideSchema = z.strictObject({
  inherit: z.boolean().optional(),
  ignore: ruleFields.ignore.optional(),
  sets: ruleFields.sets.optional(),
  tolerance: ruleFields.tolerance.optional(),
  trimStrings: ruleFields.trimStrings.optional(),
  timeToleranceS: ruleFields.timeToleranceS.optional(),
  maxDiffs: ruleFields.maxDiffs.optional(),
});

/** Config shape: service -> action -> override. */
export const comparisonOverridesSchema = (serviceName: z.ZodType<string>) => z.partialRecord(serviceName, z.record(z.string(), comparisonRulesOverrideSchema));
type ComparisonOverride = z.infer<typeof comparisonRulesOverrideSchema>;
export type ComparisonOverrides = Partial<Record<string, Record<string, ComparisonOverride>>>;

const NO_RULES = comparisonRulesSchema.parse({});

/**
 * The rules of one route: its service's defaults (each read action declares them, src/services/) with the
 * config's override merged on top, or alone with `inherit: false`.
 */
export function rulesFor(defaults: z.input<typeof comparisonRulesSchema> | undefined, override: ComparisonOverride | undefined): ComparisonRules {
  const base = override?.inherit === false || !defaults ? NO_RULES : comparisonRulesSchema.parse(defaults);
  if (!override) return base;
  return {
    ignore: [...new Set([...base.ignore, ...(override.ignore ?? [])])],
    sets: { ...base.sets, ...override.sets },
    tolerance: { ...base.tolerance, ...override.tolerance },
    trimStrings: override.trimStrings ?? base.trimStrings,
    timeToleranceS: override.timeToleranceS ?? base.timeToleranceS,
    maxDiffs: override.maxDiffs ?? base.maxDiffs,
  };
}

/** One node of the compiled path trie: what applies to the values reached by that path. */
export interface RuleNode {
  children: Map<string, RuleNode>;
  ignore: boolean;
  /** Set-compared list: key path steps ([] = the element itself). */
  setKey: string[] | undefined;
  tolerance: number | undefined;
}

export interface CompiledRules {
  root: RuleNode;
  trimStrings: boolean;
  timeToleranceS: number;
  maxDiffs: number;
}

const newNode = (): RuleNode => ({ children: new Map(), ignore: false, setKey: undefined, tolerance: undefined });

const compiled = new WeakMap<object, CompiledRules>();

/** Compiles (once per rules object; rules are treated as immutable) into a trie keyed by path steps. */
export function compileRules(r: Partial<ComparisonRules>): CompiledRules {
  const hit = compiled.get(r);
  if (hit) return hit;
  const root = newNode();
  const at = (path: string): RuleNode => {
    let node = root;
    for (const step of parseRulePath(path)) {
      let next = node.children.get(step);
      if (!next) node.children.set(step, (next = newNode()));
      node = next;
    }
    return node;
  };
  for (const p of r.ignore ?? []) at(p).ignore = true;
  for (const [p, k] of Object.entries(r.sets ?? {})) at(p).setKey = k === '' ? [] : k.split('.');
  for (const [p, t] of Object.entries(r.tolerance ?? {})) at(p).tolerance = t;
  const out = { root, trimStrings: r.trimStrings ?? false, timeToleranceS: r.timeToleranceS ?? 0, maxDiffs: r.maxDiffs ?? 50 };
  compiled.set(r, out);
  return out;
}

const NONE: readonly RuleNode[] = [];

/** The trie nodes reached from `nodes` through object key `key` (literal or `*`). */
export function stepKey(nodes: readonly RuleNode[], key: string): readonly RuleNode[] {
  if (nodes.length === 0) return NONE;
  const out: RuleNode[] = [];
  for (const n of nodes) {
    const lit = n.children.get(key);
    if (lit) out.push(lit);
    const any = key === ANY_KEY ? undefined : n.children.get(ANY_KEY);
    if (any) out.push(any);
  }
  return out.length ? out : NONE;
}

/** The trie nodes reached from `nodes` into a list element. */
export function stepElement(nodes: readonly RuleNode[]): readonly RuleNode[] {
  if (nodes.length === 0) return NONE;
  const out: RuleNode[] = [];
  for (const n of nodes) {
    const el = n.children.get(EVERY_ELEMENT);
    if (el) out.push(el);
  }
  return out.length ? out : NONE;
}
