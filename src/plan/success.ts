/** Applies a route's success rules (data from config) to a parsed reply. */
import type { SuccessRule } from '../services/service.js';

function valueAt(value: unknown, path: string): unknown {
  if (path === '') return value;
  let node = value;
  for (const key of path.split('.')) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

export function isSuccess(reply: unknown, rules: SuccessRule[]): boolean {
  return rules.some((rule) => {
    const v = valueAt(reply, rule.path);
    if (v === undefined) return false;
    if (rule.matches !== undefined) return new RegExp(rule.matches).test(String(v));
    return v === rule.equals;
  });
}
