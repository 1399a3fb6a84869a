/**
 * One canonical record per legacy key (session id, user id), in the legacy shape, as both sides are read:
 * a header tuple and element lists of tuples. Timestamps are left out (each side stamps its own clock);
 * what remains is what a write through the translators preserves, so equal records mean "in sync".
 */
import { hash } from 'node:crypto';
import type { ServiceName } from '../services/catalog.js';

export interface CanonicalRecord {
  key: string;
  /** The key's own fields (session-memory: user_id, metadata); [] when it has none. */
  header: unknown[];
  /** Per list of the service's shape, its elements oldest first, each a tuple of the list's fields. */
  lists: unknown[][][];
}

export interface ServiceShape {
  header: readonly string[];
  lists: readonly { name: string; fields: readonly string[] }[];
  /** A key with no elements does not exist (the service keeps keys implicitly, by their first write). */
  emptyIsAbsent: boolean;
}

export const SHAPES: Record<ServiceName, ServiceShape> = {
  'session-memory': {
    header: ['user_id', 'metadata'],
    lists: [{ name: 'interactions', fields: ['role', 'content', 'metadata'] }],
    emptyIsAbsent: false,
  },
  'contextual-memory': {
    header: [],
    lists: [
      { name: 'interactions', fields: ['type', 'content', 'metadata'] },
      { name: 'decisions', fields: ['decision'] },
    ],
    emptyIsAbsent: true,
  },
  'jarvis-memory': {
    header: [],
    lists: [{ name: 'memories', fields: ['memory'] }],
    emptyIsAbsent: true,
  },
};

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

export const isEmptyRecord = (r: CanonicalRecord): boolean => r.lists.every((l) => l.length === 0);

/** The record with named fields, for field-level diffs (`interactions[2].content`); single-field elements unwrapped. */
export function namedView(service: ServiceName, r: CanonicalRecord): Record<string, unknown> {
  const shape = SHAPES[service];
  const out: Record<string, unknown> = {};
  shape.header.forEach((f, i) => (out[f] = r.header[i]));
  shape.lists.forEach(({ name, fields }, i) => {
    out[name] = (r.lists[i] ?? []).map((t) => (fields.length === 1 ? t[0] : Object.fromEntries(fields.map((f, j) => [f, t[j]]))));
  });
  return out;
}

// --- key order ---------------------------------------------------------------------------------

const HIGH = /[\ud800-\uffff]/;

/**
 * Code point order (= UTF-8 byte order, PostgreSQL's COLLATE "C", SQLite's BINARY). JavaScript's `<`
 * compares UTF-16 units, which puts astral characters below U+E000..U+FFFF; only those need the slow path.
 */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  if (!HIGH.test(a) || !HIGH.test(b)) return a < b ? -1 : 1;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x < 0xe000 ? x + 0x2000 : x - 0x800;
      y = y < 0xe000 ? y + 0x2000 : y - 0x800;
    }
    return x - y;
  }
  return a.length - b.length;
}

/** A half-open key range [from, to); undefined bounds are open. */
export interface KeyRange {
  from?: string;
  to?: string;
}

// --- PostgreSQL jsonb text ---------------------------------------------------------------------

const byteLength = (s: string): number => Buffer.byteLength(s, 'utf8');

/** jsonb orders object keys shorter first (in bytes), then bytewise. */
function jsonbKeyOrder(a: string, b: string): number {
  return byteLength(a) - byteLength(b) || compareKeys(a, b);
}

// eslint-disable-next-line no-control-regex
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

/** numeric's text of a number JavaScript wrote as JSON: exponents spelled out as plain digits. */
function jsonbNumber(n: number): string {
  if (Number.isSafeInteger(n)) return String(n);
  if (!Number.isFinite(n)) return 'null';
  const s = JSON.stringify(n);
  const e = s.indexOf('e');
  if (e < 0) return s;
  const negative = s.startsWith('-');
  const mantissa = s.slice(negative ? 1 : 0, e);
  const exp = Number(s.slice(e + 1));
  const dot = mantissa.indexOf('.');
  const digits = mantissa.replace('.', '');
  const point = (dot < 0 ? mantissa.length : dot) + exp;
  let plain: string;
  if (point <= 0) plain = `0.${'0'.repeat(-point)}${digits}`;
  else if (point >= digits.length) plain = digits + '0'.repeat(point - digits.length);
  else plain = `${digits.slice(0, point)}.${digits.slice(point)}`;
  return (negative ? '-' : '') + plain;
}

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
