/** memshift's reading and writing of JSON checked against Python's own json module (Debian's python3), byte for byte. */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { LosslessNumber, parse } from 'lossless-json';
import { pyDumps, pyFloatRepr, pyLoads, PyJsonError } from '../../src/util/pyjson.js';

/** Runs `code` in python3 with `data` on stdin (JSON), returning its stdout parsed as JSON. */
const python = (code: string, data: unknown): unknown =>
  JSON.parse(execFileSync('python3', ['-c', `import json, sys\ndata = json.load(sys.stdin)\n${code}`], { input: JSON.stringify(data), encoding: 'utf8' }));

describe('floats memshift writes', () => {
  it("are spelt as Python's repr(float)", () => {
    const values = [3, 1e-5, 25000000000, 1e16, 1e15, 0.1, 1 / 3, 1732280000.123456, 2.5e20, 1e-7, 123.456, 1e22, 5e-324, 1.7976931348623157e308, -2.5, 0.0001];
    for (let i = 0; i < 200; i++) values.push((Math.random() - 0.5) * 10 ** Math.floor(Math.random() * 40 - 20));
    const expected = python('print(json.dumps([repr(float(x)) for x in data]))', values) as string[];
    expect(values.map(pyFloatRepr)).toEqual(expected);
  });
});

describe('frames as Python reads them', () => {
  // Inputs whose numbers Python writes back as given, so its json.dumps(json.loads(x)) is the expected text.
  const inputs = [
    '{"action": "add_memory", "memory": {"n": 3.0, "e": 1e-05, "b": 25000000000.0, "i": 12345678901234567890}}',
    '{"a": NaN, "b": Infinity, "c": -Infinity, "s": "NaN and Infinity stay text"}',
    '{"k": 1, "k": 2, "nested": {"x": [1, 2, {"k": "first", "k": "last"}]}}',
    '{"text": "caf\\u00e9 \\ud83d\\ude00 \\u0000 end", "lone": "\\ud800"}',
    '[]',
    '"a bare string"',
  ];

  it('reads what Python reads and writes it back as Python does', () => {
    const expected = python('print(json.dumps([json.dumps(json.loads(x)) for x in data]))', inputs) as string[];
    expect(inputs.map((x) => pyDumps(pyLoads(x)))).toEqual(expected);
  });

  it('spells every number as Python writes back what it read: ints exactly, floats as repr(float)', () => {
    const numbers = [
      '1E5',
      '0.50',
      '-0',
      '-0.0',
      '1.10',
      '0.00001',
      '2.5e10',
      '1e400',
      '-1e400',
      '1.5e300',
      '10E-1',
      '123456789012345678901234567890',
      '3.0',
      '1e-05',
      // Floats as Python writes them (kept as they are) and near where repr(float) turns to exponents.
      '1700000000.123',
      '-2.5',
      '0.1',
      '0.0001',
      '0.00009999',
      '123.4560',
      '1234567890123456.7',
      '9999999999999998.0',
    ];
    const expected = python('print(json.dumps([json.dumps(json.loads(x)) for x in data]))', numbers) as string[];
    expect(numbers.map((x) => pyDumps(pyLoads(x)))).toEqual(expected);
  });

  it('reads varied documents as Python and lossless-json do, numbers with their tokens, whichever parser takes them', () => {
    // Random documents: numbers in every spelling, duplicate keys, escapes, nesting.
    let seed = 7;
    const rnd = (n: number) => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const numbers = ['0', '-1', '42', '1.5', '1.0', '-0', '1e5', '2.5E-3', '1700000000.123', '12345678901234567890', '0.1', '1e400', '100', '-2.25'];
    const gen = (keys: string[], depth = 0): string => {
      const pick = rnd(depth > 2 ? 4 : 7);
      if (pick === 1) return ['"text"', '"\\n\\u00fc\\ud83d\\ude00"', '"1.0"', 'true', 'null', '"ends in a backslash \\\\"', '"a \\"quote\\" 1.5: x"'][rnd(7)]!;
      if (pick < 4) return numbers[rnd(numbers.length)]!;
      if (pick === 4) return `[${Array.from({ length: rnd(4) }, () => gen(keys, depth + 1)).join(', ')}]`;
      return `{${Array.from({ length: rnd(5) }, () => `"${keys[rnd(keys.length)]}": ${gen(keys, depth + 1)}`).join(', ')}}`;
    };
    const docs = Array.from({ length: 300 }, () => gen(['a', 'b', 'timestamp', 'x\\"y', 'caf\\u00e9']));
    // And the plain case the fast reader is for: a page of memories whose numbers all spell as JavaScript writes them.
    docs.push(`{"memories": [${Array.from({ length: 50 }, (_, i) => `{"n": ${i}, "t": ${1700000000 + i / 8}, "s": "m ${i}"}`).join(', ')}]}`);
    const expected = python('print(json.dumps([json.dumps(json.loads(x)) for x in data]))', docs) as string[];
    expect(docs.map((x) => pyDumps(pyLoads(x)))).toEqual(expected);
    // Keys JavaScript puts first ("1", "10": Python keeps them where they were written, a known difference of both
    // readers) reorder the values against the text's numbers: each value must still get its own token.
    const reordered = Array.from({ length: 300 }, () => gen(['a', 'b', '1', '10']));
    const reference = (x: string) => parse(x, null, { parseNumber: (d) => new LosslessNumber(d), onDuplicateKey: ({ newValue }) => newValue });
    for (const x of [...docs, ...reordered]) expect(pyLoads(x), x).toStrictEqual(reference(x));
  });

  it('decodes the encodings Python detects: UTF-8 with a BOM, UTF-16, UTF-32', () => {
    const text = '{"action": "get_memories", "user_id": "\u00fc\u{1f600}"}';
    const encodings = ['utf-8-sig', 'utf-16', 'utf-16-le', 'utf-16-be', 'utf-32', 'utf-32-le', 'utf-32-be'];
    const encoded = python('print(json.dumps([list(data[0].encode(e)) for e in data[1]]))', [text, encodings]) as number[][];
    const seen = python('print(json.dumps([json.loads(bytes(b)) for b in data]))', encoded);
    expect(encoded.map((bytes) => pyLoads(Buffer.from(bytes)))).toEqual(seen);
  });

  it('refuses what Python refuses, and nesting past its recursion limit', () => {
    for (const bad of ['{"a": }', '{"a": 1,}', "{'a': 1}", 'nan', '']) expect(() => pyLoads(bad), bad).toThrow(PyJsonError);
    expect(() => pyLoads('['.repeat(100_000) + ']'.repeat(100_000))).toThrow(/deeper than 1000/);
  });
});
