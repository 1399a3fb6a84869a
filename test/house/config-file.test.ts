/**
 * config/memshift.yaml says it shows every key with its default: it does, so `memshift serve` without --config and
 * with a file of one's own (the schema's defaults) run alike, and the file an operator copies leaves nothing out.
 */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config.js';

const shipped: unknown = parse(readFileSync('config/memshift.yaml', 'utf8'));
const defaults = parseConfig({});

/** Every path to a value that is not an object of keys (keys left unset have none, and are left out). */
function leaves(v: unknown, path: string[] = []): string[][] {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || Object.keys(v).length === 0) return [path];
  return Object.entries(v).flatMap(([k, x]) => leaves(x, [...path, k]));
}

function setIn(doc: unknown, path: string[]): boolean {
  let at = doc;
  for (const k of path) {
    if (at === null || typeof at !== 'object' || !(k in at)) return false;
    at = (at as Record<string, unknown>)[k];
  }
  return true;
}

it('sets every key that has a default', () => {
  const unset = leaves(defaults).filter((p) => !setIn(shipped, p));
  expect(unset.map((p) => p.join('.'))).toEqual([]);
  expect(leaves(defaults).length).toBeGreaterThan(50);
});

it('sets each to the schema default', () => {
  expect(parseConfig(shipped)).toEqual(defaults);
});
