/** The simulators' own json.loads / json.dumps checked against Debian's python3, byte for byte, on random documents. */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { dumps, loads } from '../../src/tools/sim/python.js';

/** Python's `expression` of every text `t` (json imported), as a list. */
const python = (expression: string, texts: string[]): string[] =>
  JSON.parse(
    execFileSync('python3', ['-c', `import json, sys\nprint(json.dumps([${expression} for t in json.load(sys.stdin)]))`], {
      input: JSON.stringify(texts),
      encoding: 'utf8',
    }),
  ) as string[];

/** A seeded generator, so a failure is repeatable. */
function random(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

const CHARS = [
  'a',
  'Z',
  ' ',
  '~',
  '"',
  '\\',
  '/',
  '\n',
  '\t',
  '\b',
  '\f',
  '\r',
  '\u0000',
  '\u001f',
  '\u007f',
  '\u0080',
  'é',
  '\u2028',
  '😀',
  '\ud800',
  '\udfff',
];
const SPELLINGS = [
  '0',
  '-0',
  '3.0',
  '-0.0',
  '1e5',
  '1E-5',
  '0.50',
  '2.5e20',
  '1e16',
  '9999999999999998.0',
  '1e-4',
  '0.0001',
  '0.00009',
  '123456789012345678901234567890',
  '1e400',
];

/** A JSON text with strings of every kind of character and numbers spelt in every way, nested up to `depth`. */
function document(next: () => number, depth: number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const text = (): string => JSON.stringify(Array.from({ length: Math.floor(next() * 12) }, () => (next() < 0.6 ? 'p' : pick(CHARS))).join(''));
  const number = (): string => (next() < 0.5 ? pick(SPELLINGS) : String((next() - 0.5) * 10 ** Math.floor(next() * 44 - 22)));
  const r = next();
  if (depth === 0 || r < 0.3) return next() < 0.5 ? text() : number();
  if (r < 0.4) return pick(['true', 'false', 'null']);
  const n = Math.floor(next() * 5);
  if (r < 0.7) return `[${Array.from({ length: n }, () => document(next, depth - 1)).join(', ')}]`;
  return `{${Array.from({ length: n }, () => `${text()}: ${document(next, depth - 1)}`).join(', ')}}`;
}

describe("the simulators' JSON", () => {
  it('writes back what it read exactly as Python does', () => {
    const next = random(20261123);
    const texts = Array.from({ length: 400 }, () => document(next, 4));
    expect(texts.map((t) => dumps(loads(t)))).toEqual(python('json.dumps(json.loads(t))', texts));
  });

  it('writes floats it made itself as repr(float)', () => {
    const next = random(7);
    const values = [0.1, 1e-4, 9.9e-5, 1e16 + 0.5, 9999999999999998, 1.5e16, 1e21 + 0.5, 1 / 3, 1732280000.123456, -2.5, 5e-324];
    // Not a whole one: a plain whole number stands for an int read from a frame.
    for (let i = 0; values.length < 300; i++) {
      const x = (next() - 0.5) * 10 ** Math.floor(next() * 44 - 22);
      if (!Number.isInteger(x)) values.push(x);
    }
    const expected = python('json.dumps(float(t))', values.map(String));
    expect(values.map((v) => dumps(v))).toEqual(expected);
  });
});
