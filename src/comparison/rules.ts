/**
 * Comparison rules as data: per route, which fields are not compared, which lists are sets, which
 * numbers get a tolerance. Validated by zod so config can carry them; compiled once into a path trie
 * the comparison walks alongside the replies.
 *
 * Path syntax: dot-separated keys, `[]` = every element of a list, `*` = any object key; "" is the
 * root (a bare reply such as contextual-memory's `true` / `null`). Example: `context[].timestamp`.
 */
import { z } from 'zod';
import { SERVICE_NAMES, type ServiceName } from '../services/catalog.js';

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
  /** At most this many diffs are reported per comparison; the rest is cut (`truncated`). */
  maxDiffs: z.number().int().positive(),
};

export const comparisonRulesSchema = z.strictObject({
  ignore: ruleFields.ignore.default([]),
  sets: ruleFields.sets.default({}),
  tolerance: ruleFields.tolerance.default({}),
  trimStrings: ruleFields.trimStrings.default(false),
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
  maxDiffs: ruleFields.maxDiffs.optional(),
});

/** Config shape: service -> action -> override. */
export const comparisonOverridesSchema = z.partialRecord(z.enum(SERVICE_NAMES), z.record(z.string(), comparisonRulesOverrideSchema));
export type ComparisonOverrides = z.infer<typeof comparisonOverridesSchema>;

const rules = (r: z.input<typeof comparisonRulesSchema>): ComparisonRules => comparisonRulesSchema.parse(r);
const NO_RULES = rules({});

/**
 * Defaults for the read actions. Timestamps are ignored because each side stamps its own clock;
 * request ids because the rebuilt reply may carry another. List order is kept: it is part of
 * each legacy contract (context oldest first, memories oldest first, decisions as recorded).
 */
export const DEFAULT_COMPARISON_RULES: Record<ServiceName, Record<string, ComparisonRules>> = {
  'session-memory': {
    get_context: rules({ ignore: ['request_id', 'context[].timestamp'] }),
  },
  'contextual-memory': {
    get_context: rules({ ignore: ['last_updated', 'key_decisions[].timestamp'] }),
  },
  'jarvis-memory': {
    get_memories: rules({ ignore: ['memories[].timestamp'] }),
  },
};

/** The rules of one route: the defaults with the config's override merged on top. */
export function rulesFor(overrides: ComparisonOverrides | undefined, service: ServiceName, action: string): ComparisonRules {
  const defaults = DEFAULT_COMPARISON_RULES[service][action] ?? NO_RULES;
  const o = overrides?.[service]?.[action];
  if (!o) return defaults;
  const base = o.inherit === false ? NO_RULES : defaults;
  return {
    ignore: [...new Set([...base.ignore, ...(o.ignore ?? [])])],
    sets: { ...base.sets, ...o.sets },
    tolerance: { ...base.tolerance, ...o.tolerance },
    trimStrings: o.trimStrings ?? base.trimStrings,
    maxDiffs: o.maxDiffs ?? base.maxDiffs,
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
  const out = { root, trimStrings: r.trimStrings ?? false, maxDiffs: r.maxDiffs ?? 50 };
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
