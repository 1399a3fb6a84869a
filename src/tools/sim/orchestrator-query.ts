/** The orchestrator simulator's read side: batch_read filtering, sorting and paging, and search scoring. */
import { dumps } from './python.js';
import { isObject, type JsonObject } from './model.js';

export interface StoredMemory {
  memory_id: string;
  session_id: string;
  memory_type: string;
  content: JsonObject;
  tags: string[];
  created_at: string;
  updated_at: string;
  expires_at: string | null;
  priority: number;
  is_active: boolean;
  /** Insertion order: the tie-break that keeps equal timestamps in a stable order. */
  seq: number;
}

export class QueryError extends Error {}

/** The memory as the orchestrator returns it. */
export const publicMemory = ({ is_active: _a, seq: _s, ...m }: StoredMemory) => m;

export const isLive = (m: StoredMemory, nowMs: number): boolean => m.is_active && (m.expires_at === null || Date.parse(m.expires_at) > nowMs);

const asList = (v: unknown): unknown[] | undefined => (v === undefined || v === null ? undefined : Array.isArray(v) ? v : [v]);

function parseTime(v: unknown, what: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  const t = typeof v === 'string' ? Date.parse(v) : NaN;
  if (Number.isNaN(t)) throw new QueryError(`${what} must be an ISO-8601 timestamp`);
  return t;
}

/** Predicate for the filter keys batch_read, search and summarize share: types, time_range (inclusive) and tags (all must match). */
export function matcher(filter: JsonObject, typesKey: 'memory_type' | 'memory_types'): (m: StoredMemory) => boolean {
  const types = asList(filter[typesKey]);
  const tags = asList(filter.tags);
  const range = filter.time_range;
  if (range !== undefined && range !== null && !isObject(range)) throw new QueryError('time_range must be an object');
  const start = parseTime(range?.start, 'time_range.start');
  const end = parseTime(range?.end, 'time_range.end');
  const inRange =
    start === undefined && end === undefined ? undefined : (at: number) => (start === undefined || at >= start) && (end === undefined || at <= end);
  return (m) =>
    (!types || types.includes(m.memory_type)) && (!tags || tags.every((t) => m.tags.includes(t as string))) && (!inRange || inRange(Date.parse(m.created_at)));
}

const SORT_FIELDS = ['created_at', 'updated_at', 'priority'] as const;

export function sortMemories(list: StoredMemory[], sort: unknown): StoredMemory[] {
  const spec = isObject(sort) ? sort : {};
  const field = spec.field ?? 'created_at';
  const order = spec.order ?? 'asc';
  if (!SORT_FIELDS.includes(field as never)) throw new QueryError(`sort.field must be one of ${SORT_FIELDS.join(', ')}`);
  if (order !== 'asc' && order !== 'desc') throw new QueryError('sort.order must be asc or desc');
  const key = (m: StoredMemory): number => (field === 'priority' ? m.priority : Date.parse(m[field as 'created_at' | 'updated_at']));
  const dir = order === 'asc' ? 1 : -1;
  // PostgreSQL gives rows that tie on the sort key in no particular order, not in insertion order: here, by id
  // (stable across pages, unrelated to when they were written), so a client relying on insertion order shows it.
  return [...list].sort((a, b) => dir * (key(a) - key(b)) || (a.memory_id < b.memory_id ? -1 : a.memory_id > b.memory_id ? 1 : 0));
}

export function nonNegativeInt(v: unknown, fallback: number, what: string): number {
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new QueryError(`${what} must be a non-negative integer`);
  return v;
}

/** The text a memory is searched by: content.text, or the whole content when it has none. */
export const searchText = (m: StoredMemory): string => (typeof m.content.text === 'string' ? m.content.text : dumps(m.content));

const tokens = (s: string): Set<string> => new Set(s.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []);

export type SearchType = 'semantic' | 'keyword' | 'hybrid';

/**
 * Similarity of a memory to a query. keyword: 1 when the query is a (case-insensitive) substring, else 0.
 * semantic: cosine of the two token sets (a stand-in for embeddings). hybrid: the mean of both.
 */
export function similarity(query: string, text: string, type: SearchType): number {
  const keyword = text.toLowerCase().includes(query.toLowerCase()) ? 1 : 0;
  if (type === 'keyword') return keyword;
  const q = tokens(query);
  const t = tokens(text);
  let shared = 0;
  for (const w of q) if (t.has(w)) shared++;
  const semantic = q.size && t.size ? shared / Math.sqrt(q.size * t.size) : 0;
  return type === 'semantic' ? semantic : (keyword + semantic) / 2;
}
