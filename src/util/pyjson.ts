/**
 * JSON as the Python services read and write it. Reading (json.loads of the frame's bytes): the encoding
 * Python detects (UTF-8 with or without BOM, UTF-16, UTF-32), bare NaN / Infinity / -Infinity, the last of
 * duplicate keys, and every number kept as written (a lossless-json LosslessNumber: an int keeps all its digits,
 * a float is not turned into an int). Writing (json.dumps) is pydumps.ts, re-exported here.
 */
import { isLosslessNumber, LosslessNumber, parse } from 'lossless-json';

export { pyDumps, pyFloat, pyFloatRepr } from './pydumps.js';

export { isLosslessNumber };

/** Input Python's json would refuse, or that memshift will not take apart (too deep). */
export class PyJsonError extends Error {
  constructor(
    message: string,
    readonly tooDeep = false,
  ) {
    super(message);
  }
}

/** Python's json gives up near its recursion limit (1000 frames); so does memshift, with a clear error. */
const MAX_DEPTH = 1000;

export function pyLoads(raw: Buffer | string): unknown {
  const text = typeof raw === 'string' ? raw : decode(raw);
  const fast = nativeLoads(text);
  if (fast !== undefined) return fast.value;
  assertShallow(text);
  const constants = /NaN|Infinity/.test(text) ? markConstants(text) : undefined;
  try {
    return parse(constants?.text ?? text, null, {
      parseNumber: (digits) => constants?.values.get(digits) ?? new LosslessNumber(digits),
      onDuplicateKey: ({ newValue }) => newValue,
    });
  } catch (err) {
    throw new PyJsonError((err as Error).message);
  }
}

/**
 * The same value read by V8's JSON.parse (several times faster than lossless-json on a large orchestrator page),
 * each number then wrapped with its own token from the text. The values are met in the text's order unless V8
 * reordered keys (array-index keys such as "1" come first) or a duplicate key kept its first place with its last
 * value: a key starting with a digit, or fewer keys in the value than colons in the text, gives that away, and
 * lossless-json reads the text instead, as it does anything JSON.parse refuses (`NaN`) and a `__proto__` key.
 * V8's JSON.parse takes any nesting (it does not recurse), so the depth Python allows is checked on the way.
 */
function nativeLoads(text: string): { value: unknown } | undefined {
  if (text.includes('__proto__')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return new NumberTokens(text).wrapAll(value);
}

/**
 * Walks a value JSON.parse read from `text` alongside the text's number tokens. A class rather than closures in
 * nativeLoads: tsx (`npx memshift`, the bench) names every closure as it is made, a cost on each call.
 */
class NumberTokens {
  private at = 0;
  private colons = 0;
  private keys = 0;
  private inOrder = true;

  constructor(private readonly text: string) {}

  wrapAll(value: unknown): { value: unknown } | undefined {
    const wrapped = this.wrap(value, 0);
    return this.inOrder && this.next() === undefined && this.colons === this.keys ? { value: wrapped } : undefined;
  }

  /** The next number token outside strings (counting the colons passed), or undefined at the end. */
  private next(): string | undefined {
    const text = this.text;
    for (; this.at < text.length; this.at++) {
      const c = text.charCodeAt(this.at);
      if (c === 0x22) this.at = closingQuote(text, this.at);
      else if (c === 0x3a) this.colons++;
      else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
        const start = this.at;
        for (this.at++; this.at < text.length && NUMBER_CHAR[text.charCodeAt(this.at)] === 1; this.at++);
        return text.slice(start, this.at);
      }
    }
    return undefined;
  }

  private wrap(v: unknown, depth: number): unknown {
    if (typeof v === 'number') {
      const token = this.next();
      if (token === undefined) this.inOrder = false;
      return this.inOrder ? new LosslessNumber(token!) : v;
    }
    if (v === null || typeof v !== 'object') return v;
    if (depth === MAX_DEPTH) throw new PyJsonError(`nested deeper than ${MAX_DEPTH} levels`, true);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length && this.inOrder; i++) v[i] = this.wrap(v[i], depth + 1);
      return v;
    }
    const holder = v as Record<string, unknown>;
    for (const k in holder) {
      this.keys++;
      const first = k.charCodeAt(0);
      if (first >= 0x30 && first <= 0x39) this.inOrder = false;
      if (!this.inOrder) break;
      const x = holder[k];
      if (typeof x === 'number' || (x !== null && typeof x === 'object')) holder[k] = this.wrap(x, depth + 1);
    }
    return v;
  }
}

/** Where the string opened at `open` ends: the next quote not escaped (after an even run of backslashes), found by indexOf. */
function closingQuote(text: string, open: number): number {
  for (let q = open; ;) {
    q = text.indexOf('"', q + 1);
    if (q < 0) return text.length;
    let b = q - 1;
    while (text.charCodeAt(b) === 0x5c) b--;
    if ((q - 1 - b) % 2 === 0) return q;
  }
}

/** Characters that continue a number token: digits, `.`, `e`, `E`, `+`, `-`. */
const NUMBER_CHAR = new Uint8Array(128);
for (const c of '0123456789.eE+-') NUMBER_CHAR[c.charCodeAt(0)] = 1;

/** json.loads's reading of bytes, strict as Python's: UTF-8 that is not (a byte no UTF-8 has) throws a TypeError. */
export const pyJsonText = (b: Buffer): string => decode(b, true);

/**
 * json.loads(bytes): the encoding from a BOM or the zero bytes' pattern, as json.detect_encoding finds it; invalid
 * UTF-8 turned into U+FFFD unless `fatal`.
 */
function decode(b: Buffer, fatal = false): string {
  const at = (i: number) => b[i] ?? -1;
  if ((at(0) === 0 && at(1) === 0 && at(2) === 0xfe && at(3) === 0xff) || (at(0) === 0xff && at(1) === 0xfe && at(2) === 0 && at(3) === 0)) {
    return utf32(b.subarray(4), at(0) === 0);
  }
  if (at(0) === 0xfe && at(1) === 0xff) return new TextDecoder('utf-16be').decode(b.subarray(2));
  if (at(0) === 0xff && at(1) === 0xfe) return new TextDecoder('utf-16le').decode(b.subarray(2));
  if (at(0) === 0xef && at(1) === 0xbb && at(2) === 0xbf) return utf8(b.subarray(3), fatal);
  if (b.length >= 4) {
    if (at(0) === 0) return at(1) ? new TextDecoder('utf-16be').decode(b) : utf32(b, true);
    if (at(1) === 0) return at(2) || at(3) ? new TextDecoder('utf-16le').decode(b) : utf32(b, false);
  } else if (b.length === 2) {
    if (at(0) === 0) return new TextDecoder('utf-16be').decode(b);
    if (at(1) === 0) return new TextDecoder('utf-16le').decode(b);
  }
  return utf8(b, fatal);
}

const utf8 = (b: Buffer, fatal: boolean): string => (fatal ? new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(b) : b.toString('utf8'));

function utf32(b: Buffer, bigEndian: boolean): string {
  let out = '';
  for (let i = 0; i + 3 < b.length; i += 4) {
    const cp = bigEndian ? b.readUInt32BE(i) : b.readUInt32LE(i);
    if (cp > 0x10ffff) throw new PyJsonError(`not UTF-32: code point ${cp.toString(16)}`);
    out += String.fromCodePoint(cp);
  }
  return out;
}

/** Throws when arrays and objects nest deeper than Python's json goes (cheap: only long texts can). */
export function assertShallow(text: string): void {
  if (text.length > MAX_DEPTH && depthOf(text) > MAX_DEPTH) throw new PyJsonError(`nested deeper than ${MAX_DEPTH} levels`, true);
}

/** Calls `visit` with each character code outside JSON strings, and its index. */
function outsideStrings(text: string, visit: (c: number, i: number) => void): void {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) i = closingQuote(text, i);
    else visit(c, i);
  }
}

/** The deepest nesting of arrays and objects, strings skipped. */
function depthOf(text: string): number {
  let depth = 0;
  let max = 0;
  outsideStrings(text, (c) => {
    if (c === 0x5b || c === 0x7b) max = Math.max(max, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
  });
  return max;
}

/**
 * NaN and Infinity outside strings become number tokens the text does not hold elsewhere, which the number
 * parser turns back into the constants (a leading minus makes -Infinity).
 */
function markConstants(text: string): { text: string; values: Map<string, number> } {
  let base = '1e-99999999';
  while (text.includes(base)) base += '9';
  const nan = `${base}1`;
  const inf = `${base}2`;
  const values = new Map([
    [nan, NaN],
    [inf, Infinity],
    [`-${inf}`, -Infinity],
    [`-${nan}`, NaN],
  ]);
  let out = '';
  let from = 0;
  outsideStrings(text, (c, i) => {
    // Tokens hold no quotes, so a match never straddles a string; `from` skips the rest of one already taken.
    if (i < from) return;
    const token = c === 0x4e && text.startsWith('NaN', i) ? ['NaN', nan] : c === 0x49 && text.startsWith('Infinity', i) ? ['Infinity', inf] : undefined;
    if (!token) return;
    out += text.slice(from, i) + token[1];
    from = i + token[0]!.length;
  });
  return { text: out + text.slice(from), values };
}

/** A number as JavaScript can compute with it (a LosslessNumber's value, possibly rounded); undefined for anything else. */
export function numberOf(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (isLosslessNumber(v)) return Number(v.value);
  return undefined;
}
