/** Digests of canonical records (services/records.ts), and the jsonb text they hash, made alike here and in SQL. */
import { hash } from 'node:crypto';
import { compareKeys, type CanonicalRecord, type KeyBounds } from '../services/records.js';
import { isLosslessNumber, pyDumps } from '../util/pyjson.js';

/** Separators of the hashed text: between elements, and between lists. The SQL side uses the same. */
export const ELEMENT_SEP = '\n';
export const LIST_SEP = '\u001d';

/**
 * The 128-bit digest of a record, computed identically by the orchestrator reader in SQL:
 * md5(jsonb text of [key, ...header] + for each list: separator + its elements' jsonb text).
 */
export function recordDigest(r: CanonicalRecord): string {
  let text = jsonbText([r.key, ...r.header]);
  r.lists.forEach((list, i) => {
    text += (i === 0 ? ELEMENT_SEP : LIST_SEP) + list.map(jsonbText).join(ELEMENT_SEP);
  });
  return hash('md5', text, 'hex');
}

/** The two 32-bit words of a digest that range checksums sum (mod 2^32). */
export const digestWords = (hex: string): [number, number] => [parseInt(hex.slice(0, 8), 16), parseInt(hex.slice(8, 16), 16)];

/** A half-open key range [from, to); undefined bounds are open (the legacy stores' KeyBounds, by the reconciler's name). */
export type KeyRange = KeyBounds;

// --- PostgreSQL jsonb text ---------------------------------------------------------------------

const byteLength = (s: string): number => Buffer.byteLength(s, 'utf8');

/** jsonb orders object keys shorter first (in bytes), then bytewise. */
function jsonbKeyOrder(a: string, b: string): number {
  return byteLength(a) - byteLength(b) || compareKeys(a, b);
}

const NEEDS_ESCAPE = /["\\\u0000-\u001f]/;

function jsonbString(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return `"${s}"`;
  let out = '"';
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

const JSON_NUMBER = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;
const PLAIN_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?$/;
const NONZERO = /[1-9]/;

/**
 * numeric's text of a JSON number as written: plain digits (no exponent), as many decimals as the text had
 * after its point less its exponent (`3.0` stays `3.0`, `1e-05` is `0.00001`, `1.5e+21` has none); no -0.
 */
function numericText(text: string): string {
  // The usual spelling (an int, or a float in positional notation) is numeric's own, but for a minus before zero.
  if (PLAIN_NUMBER.test(text)) return text.charCodeAt(0) === 0x2d && !NONZERO.test(text) ? text.slice(1) : text;
  const m = JSON_NUMBER.exec(text);
  if (!m) return 'null';
  const [, sign, whole, fraction = '', e = '0'] = m as unknown as [string, string, string, string | undefined, string | undefined];
  const exp = Number(e);
  const scale = Math.max(0, fraction.length - exp);
  let digits = whole + fraction;
  let point = whole.length + exp;
  if (point < 0) {
    digits = '0'.repeat(-point) + digits;
    point = 0;
  }
  if (point > digits.length) digits += '0'.repeat(point - digits.length);
  const integer = digits.slice(0, point).replace(/^0+(?=\d)/, '') || '0';
  const body = scale ? `${integer}.${digits.slice(point)}` : integer;
  return sign && /[1-9]/.test(body) ? `-${body}` : body;
}

/** numeric's text of a number JavaScript holds (written as JSON first). */
const jsonbNumber = (n: number): string => (Number.isFinite(n) ? numericText(JSON.stringify(n)) : 'null');

/**
 * The text PostgreSQL prints for a JSON value stored as jsonb (`value::jsonb::text`), so a digest made
 * here matches one made in SQL. Where the emulation falls short (rare number spellings), the two digests
 * differ and the record is simply fetched and compared field by field: a cost, never a wrong answer.
 */
export function jsonbText(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  switch (typeof v) {
    case 'string':
      return jsonbString(v);
    case 'number':
      return jsonbNumber(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object': {
      // A number as read (lossless): the text the translator sends for it is Python's spelling.
      if (isLosslessNumber(v)) return numericText(pyDumps(v));
      if (Array.isArray(v)) return `[${v.map(jsonbText).join(', ')}]`;
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o)
        .filter((k) => o[k] !== undefined)
        .sort(jsonbKeyOrder);
      return `{${keys.map((k) => `${jsonbString(k)}: ${jsonbText(o[k])}`).join(', ')}}`;
    }
    default:
      return 'null';
  }
}
