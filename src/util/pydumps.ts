/**
 * JSON as Python's json.dumps writes it (its defaults): separators ", " and ": ", ASCII only, ints exactly and
 * floats as repr(float), so a value carried to the orchestrator and back is spelt as the agent wrote it.
 */
import { isLosslessNumber, LosslessNumber } from 'lossless-json';

/** JSON text as Python's json.dumps writes it. */
export function pyDumps(value: unknown): string {
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      return Number.isInteger(value) ? String(value) : pyFloatRepr(value);
    case 'bigint':
      return String(value);
    case 'string':
      return pyString(value);
    case 'object':
      if (value === null) return 'null';
      if (isLosslessNumber(value)) return pyNumber(value.value);
      // Appended in place: a reply rebuilt from an orchestrator page has thousands of members.
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ', ') + pyDumps(value[i]);
        return `${out}]`;
      }
      return pyObject(value as Record<string, unknown>);
    default:
      return 'null';
  }
}

function pyObject(value: Record<string, unknown>): string {
  let out = '{';
  for (const key of Object.keys(value)) {
    const member = value[key];
    if (member !== undefined) out += (out.length === 1 ? '' : ', ') + pyString(key) + ': ' + pyDumps(member);
  }
  return `${out}}`;
}

const INTEGER = /^-?\d+$/;

/**
 * A number as Python writes back what it read: an int exactly (`-0` is `0`), a float as repr(float) (`1.10` is
 * `1.1`, `1E5` is `100000.0`, `1e400` is `Infinity`). Text Python wrote itself comes back unchanged.
 */
function pyNumber(text: string): string {
  if (INTEGER.test(text)) return text === '-0' ? '0' : text;
  const n = Number(text);
  // The usual case, a float Python wrote: already the shortest digits, positional where repr(float) is (JavaScript's
  // String() gives the same shortest digits, positional over a wider range).
  if (POSITIONAL.test(text) && String(n) === text && Math.abs(n) >= 1e-4 && Math.abs(n) < 1e16) return text;
  return pyFloatRepr(n);
}

const POSITIONAL = /^-?\d+\.\d+$/;

/** A float memshift makes itself (epoch seconds), to be written as Python writes a float (`1732280000.0`, never `1732280000`). */
export const pyFloat = (n: number): LosslessNumber | number => (Number.isFinite(n) ? new LosslessNumber(pyFloatRepr(n)) : n);

/** Python's repr(float): the shortest digits that round-trip, fixed notation for exponents -4..15, else `1e-05` / `1e+16`. */
export function pyFloatRepr(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? 'Infinity' : '-Infinity';
  if (n === 0) return Object.is(n, -0) ? '-0.0' : '0.0';
  const [mantissa, e] = n.toExponential().split('e') as [string, string];
  const sign = mantissa.startsWith('-') ? '-' : '';
  const digits = mantissa.replace('-', '').replace('.', '');
  const exp = Number(e);
  if (exp < -4 || exp >= 16) {
    return `${sign}${digits[0]}${digits.length > 1 ? `.${digits.slice(1)}` : ''}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  const whole = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
  return `${sign}${whole}.${digits.slice(exp + 1) || '0'}`;
}

/** Strings json.dumps writes as they are: printable ASCII without a quote or a backslash. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

function pyString(s: string): string {
  if (PLAIN.test(s)) return `"${s}"`;
  // Runs of plain characters are copied whole; only what json.dumps escapes is spelt one by one.
  let out = '"';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e && c !== 0x22 && c !== 0x5c) continue;
    out += s.slice(from, i) + escaped(c);
    from = i + 1;
  }
  return `${out}${s.slice(from)}"`;
}

/** json.dumps's escape of a UTF-16 code unit (ensure_ascii): the short forms, else \uXXXX. */
function escaped(c: number): string {
  switch (c) {
    case 0x22:
      return '\\"';
    case 0x5c:
      return '\\\\';
    case 0x0a:
      return '\\n';
    case 0x0d:
      return '\\r';
    case 0x09:
      return '\\t';
    case 0x08:
      return '\\b';
    case 0x0c:
      return '\\f';
    default:
      return `\\u${c.toString(16).padStart(4, '0')}`;
  }
}
