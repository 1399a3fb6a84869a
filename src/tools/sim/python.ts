/**
 * Python's behaviour the simulated agents need, written here from Python's documentation (not taken from
 * memshift's own helpers): dicts, truthiness, `datetime.now().isoformat()`, and SessionMemoryAgent's context cut.
 */

import { isLosslessNumber, LosslessNumber, parse } from 'lossless-json';

/** A JSON object: what Python's json gives as a dict. */
export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !isLosslessNumber(v);

const SAFE_INT = /^-?\d{1,15}$/;

/**
 * json.loads of a frame's text, keeping what Python keeps of a number: an int stays an int however long,
 * a float stays a float (3.0 is not 3), a repeated key keeps its last value. Small ints are plain numbers; every
 * other number a LosslessNumber.
 */
export const loads = (text: string): unknown =>
  parse(text, null, {
    parseNumber: (digits) => (SAFE_INT.test(digits) && digits !== '-0' ? Number(digits) : new LosslessNumber(digits)),
    // A dict keeps a repeated key's last value (in its first place, as a JavaScript object does).
    onDuplicateKey: ({ newValue }) => newValue,
  });

/** A number as Python holds it, for arithmetic: undefined for anything that is not a number (bool aside). */
export function numeric(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  return isLosslessNumber(v) ? Number(v.value) : undefined;
}

/** A Python float (as opposed to an int) among decoded values. */
export const isFloat = (v: unknown): boolean => (typeof v === 'number' ? !Number.isInteger(v) : isLosslessNumber(v) && !/^-?\d+$/.test(v.value));

/** bool(value): None, False, 0, "", [] and {} are false. */
export function truthy(value: unknown): boolean {
  if (value === null || value === undefined || value === false || value === 0 || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  return !isObject(value) || Object.keys(value).length > 0;
}

/** A non-empty str. */
export const isNonEmptyText = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

const two = (n: number): string => (n < 10 ? `0${n}` : String(n));

/** datetime.now().isoformat(): local time, no zone, microseconds (as the system clock gives them) unless they are zero. */
export function nowIso(): string {
  const epochMicros = Math.floor((performance.timeOrigin + performance.now()) * 1000);
  const d = new Date(Math.floor(epochMicros / 1000));
  const date = `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}`;
  const time = `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
  const micros = epochMicros % 1_000_000;
  return `${date}T${time}${micros ? `.${String(micros).padStart(6, '0')}` : ''}`;
}

/** SessionMemoryAgent's get_context: newest to oldest while len(content) // 4 tokens fit, handed back oldest first. */
export function contextWithin<T extends { content: string }>(oldestFirst: readonly T[], maxTokens: number): T[] {
  let used = 0;
  let from = oldestFirst.length;
  while (from > 0) {
    const content = oldestFirst[from - 1]!.content;
    // len() counts code points: only a surrogate pair makes two UTF-16 units one.
    const cost = Math.floor((/[\uD800-\uDFFF]/.test(content) ? [...content].length : content.length) / 4);
    if (used + cost > maxTokens) break;
    used += cost;
    from--;
  }
  return oldestFirst.slice(from);
}

/** repr(float): the shortest digits that read back the same; positional for exponents -4..15, else d.ddde±XX. */
function floatRepr(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity || x === -Infinity) return x > 0 ? 'Infinity' : '-Infinity';
  if (x === 0) return 1 / x < 0 ? '-0.0' : '0.0';
  // Where both write positional digits, JavaScript's are the same shortest ones (an integral value lacks the ".0").
  const abs = Math.abs(x);
  if (abs >= 1e-4 && abs < 1e16) {
    const s = String(x);
    return s.includes('.') ? s : `${s}.0`;
  }
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(x.toExponential())!;
  const [, sign, first, rest = '', e] = m as unknown as [string, string, string, string | undefined, string];
  const digits = first + rest;
  const exp = Number(e);
  if (exp >= 16 || exp < -4) return `${sign}${first}${rest ? `.${rest}` : ''}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  return digits.length > exp + 1 ? `${sign}${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}` : `${sign}${digits.padEnd(exp + 1, '0')}.0`;
}

const SHORT_ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' };

/** Strings json.dumps writes as they are: printable ASCII without a quote or a backslash. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
const ESCAPED = /["\\\u0000-\u001f\u007f-\uffff]/g;
const escape = (c: string): string => SHORT_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** json.dumps(s) with ensure_ascii: short escapes, every other code unit outside printable ASCII as \uXXXX. */
const quote = (s: string): string => (PLAIN.test(s) ? `"${s}"` : `"${s.replace(ESCAPED, escape)}"`);

/** json.dumps(value) with its defaults: ", " and ": " separators, ASCII only, NaN and Infinity bare. */
export function dumps(value: unknown): string {
  if (typeof value === 'string') return quote(value);
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  // A plain number is an int read from a frame or a float made here (a time); a read float is a LosslessNumber.
  if (typeof value === 'number') return Number.isSafeInteger(value) ? String(value) : floatRepr(value);
  if (isLosslessNumber(value)) return isFloat(value) ? floatRepr(Number(value.value)) : BigInt(value.value).toString();
  // Built up in one string, not mapped and joined (a simulated orchestrator writes pages of thousands of memories).
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i ? ', ' : '') + dumps(value[i]);
    return `${out}]`;
  }
  if (typeof value !== 'object') return 'null';
  let out = '{';
  for (const k in value) {
    const v = (value as Record<string, unknown>)[k];
    if (v !== undefined) out += (out.length > 1 ? ', ' : '') + quote(k) + ': ' + dumps(v);
  }
  return `${out}}`;
}
