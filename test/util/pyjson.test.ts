/** memshift's reading and writing of JSON checked against Python's own json module (Debian's python3), byte for byte. */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
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
    ];
    const expected = python('print(json.dumps([json.dumps(json.loads(x)) for x in data]))', numbers) as string[];
    expect(numbers.map((x) => pyDumps(pyLoads(x)))).toEqual(expected);
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
