/**
 * In-memory Memory Orchestrator (PROTOCOLS.md 2): the request envelope, sessions, memories with soft
 * delete and ttl, batch reads, search, bulk delete and summaries, answered in its success / error envelope.
 *
 * Over 300 lines: one method per action, as PROTOCOLS.md section 2 lists them (the filters are in orchestrator-query.ts).
 */
// The error codes are a wire constant (PROTOCOLS.md section 2), the one thing the simulators take from memshift.
import { randomBytes } from 'node:crypto';
import { numeric } from './python.js';
import { alterValue, divergentWrite, isObject, pyStr, type JsonObject, type SimModel, type WriteFault } from './model.js';
import {
  QueryError,
  isLive,
  matcher,
  nonNegativeInt,
  publicMemory,
  searchText,
  similarity,
  sortMemories,
  type SearchType,
  type StoredMemory,
} from './orchestrator-query.js';
import { CreatedOrder } from './orchestrator-index.js';

export interface StoredSession {
  session_id: string;
  user_id: unknown;
  session_type: string;
  metadata: JsonObject;
  created_at: string;
  ended_at: string | null;
  is_archived: boolean;
  summary: unknown;
}

export interface OrchestratorChange {
  sessions?: StoredSession[];
  memories?: StoredMemory[];
}

const MEMORY_TYPES = ['conversation', 'context', 'user_preference', 'agent_state', 'entity', 'interaction'];
const SEARCH_TYPES: SearchType[] = ['semantic', 'keyword', 'hybrid'];
const HEALTH_ACTIONS = ['ping', 'health', 'health_check'];

/** The orchestrator's error codes (PROTOCOLS.md 2), as the page lists them. */
type OrchestratorErrorCode =
  | 'invalid_request'
  | 'memory_not_found'
  | 'session_not_found'
  | 'permission_denied'
  | 'storage_error'
  | 'search_error'
  | 'validation_error'
  | 'rate_limit_exceeded'
  | 'internal_error'
  | 'database_error';

class OrchError extends Error {
  constructor(
    readonly code: OrchestratorErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const isoNow = (ms = Date.now()): string => new Date(ms).toISOString();

export function orchestratorErrorReply(code: OrchestratorErrorCode, message: string, requestId: unknown = null): JsonObject {
  return { status: 'error', request_id: requestId ?? null, error: { code, message, details: {} }, timestamp: isoNow() };
}

interface Ctx {
  session: StoredSession;
  payload: JsonObject;
  fault: WriteFault | undefined;
  now: number;
}

type Handler = (ctx: Ctx) => JsonObject;

function requireObject(v: unknown, what: string): JsonObject {
  if (!isObject(v)) throw new OrchError('validation_error', `${what} must be an object`);
  return v;
}

function tagList(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((t) => typeof t === 'string')) throw new OrchError('validation_error', 'tags must be a list of strings');
  for (const t of v) varchar64(t, 'memory_tags.tag');
  return v;
}

/** PostgreSQL refuses a VARCHAR(64) value over 64 characters (error 22001), so the orchestrator's insert fails. */
function varchar64(v: unknown, column: string): void {
  if (typeof v === 'string' && [...v].length > 64) throw new OrchError('database_error', `value too long for type character varying(64) (${column})`);
}

/** Text PostgreSQL cannot hold (jsonb and text refuse U+0000; UTF-8 has no lone surrogates): the insert fails. */
function storableText(v: unknown): void {
  if (typeof v === 'string') {
    for (let i = 0; i < v.length; i++) {
      const c = v.charCodeAt(i);
      if (c === 0) throw new OrchError('database_error', 'unsupported Unicode escape sequence: \\u0000 cannot be converted to text');
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < v.length && (v.charCodeAt(i + 1) & 0xfc00) === 0xdc00) i++;
      else if (c >= 0xd800 && c <= 0xdfff) throw new OrchError('database_error', 'invalid Unicode surrogate pair');
    }
  } else if (Array.isArray(v)) v.forEach(storableText);
  else if (isObject(v))
    for (const [k, x] of Object.entries(v)) {
      storableText(k);
      storableText(x);
    }
}

function priorityOf(v: unknown): number {
  if (v === undefined || v === null) return 5;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 10) throw new OrchError('validation_error', 'priority must be an integer from 1 to 10');
  return v;
}

/** ttl in seconds from now; null clears it. */
function expiresAt(ttl: unknown, now: number): string | null {
  if (ttl === undefined || ttl === null) return null;
  const seconds = numeric(ttl);
  if (seconds === undefined || !(seconds > 0)) throw new OrchError('validation_error', 'ttl must be a positive number of seconds');
  return isoNow(now + seconds * 1000);
}

function memoryIdOf(payload: JsonObject): string {
  if (typeof payload.memory_id !== 'string' || !payload.memory_id) throw new OrchError('validation_error', 'memory_id is required');
  return payload.memory_id;
}

function freshId(prefix: string, taken: Map<string, unknown>): string {
  for (;;) {
    const id = `${prefix}-${randomBytes(4).toString('hex')}`;
    if (!taken.has(id)) return id;
  }
}

export class OrchestratorModel implements SimModel {
  readonly sessions = new Map<string, StoredSession>();
  readonly memories = new Map<string, StoredMemory>();
  /** Each session's memories in insertion order: reads look at their session only, not at every memory. */
  private readonly bySession = new Map<string, StoredMemory[]>();
  /** The same, by created_at: batch_read's usual order without a sort per read. */
  private readonly byCreated = new Map<string, CreatedOrder>();
  /** Each session's memories of one memory_type by created_at (the orchestrator indexes memory_type): a read of one type walks that type only. */
  private readonly byType = new Map<string, CreatedOrder>();
  private seq = 0;
  /** Called with what a write stored (persistence writes it behind, see src/sim/storage). */
  onChange?: (change: OrchestratorChange) => void;

  /** Puts back state persisted earlier; new memories continue its insertion order. */
  load(sessions: Iterable<StoredSession>, memories: Iterable<StoredMemory>): void {
    for (const s of sessions) this.sessions.set(s.session_id, s);
    for (const m of memories) {
      this.keep(m);
      this.seq = Math.max(this.seq, m.seq);
    }
  }

  /** Memories are never removed (deletes are soft), and a memory never changes session. */
  private keep(m: StoredMemory): void {
    let list = this.bySession.get(m.session_id);
    if (!list) this.bySession.set(m.session_id, (list = []));
    const orders = [orderIn(this.byCreated, m.session_id), orderIn(this.byType, typeKey(m.session_id, m.memory_type))];
    const before = this.memories.get(m.memory_id);
    // A memory stored again (loaded twice) keeps its place, as in the map.
    if (before) {
      list[list.indexOf(before)] = m;
      for (const o of orders) o.replace(before, m);
    } else {
      list.push(m);
      for (const o of orders) o.add(m);
    }
    this.memories.set(m.memory_id, m);
  }

  /** A memory changed in place (deleted, given an expiry): its orders stop taking every memory as live. */
  private changed(m: StoredMemory): void {
    this.byCreated.get(m.session_id)?.changed(m);
    this.byType.get(typeKey(m.session_id, m.memory_type))?.changed(m);
  }

  private readonly actions: Record<string, Handler> = {
    create: (c) => this.create(c),
    read: (c) => publicMemory(this.memory(c)),
    update: (c) => this.update(c),
    delete: (c) => {
      const m = this.memory(c);
      divergentWrite(c.fault, m, (x) => {
        x.is_active = false;
        this.changed(x);
        this.onChange?.({ memories: [x] });
      });
      return { deleted: true };
    },
    batch_read: (c) => this.batchRead(c),
    search: (c) => this.search(c),
    end_session: (c) => this.endSession(c),
    bulk_delete: (c) => this.bulkDelete(c),
    summarize: (c) => this.summarize(c),
  };

  handle(request: unknown, fault?: WriteFault): unknown {
    const rid = isObject(request) ? (request.request_id ?? null) : null;
    try {
      if (!isObject(request)) throw new OrchError('invalid_request', 'request must be a JSON object');
      const { action, session_id: sid, payload } = request;
      if (typeof action !== 'string' || !action) throw new OrchError('invalid_request', 'action is required');
      if (HEALTH_ACTIONS.includes(action)) return { status: 'ok' };
      if (typeof request.request_id !== 'string' || !request.request_id) throw new OrchError('invalid_request', 'request_id is required');
      const known = action === 'create_session' || action in this.actions;
      if (!known) throw new OrchError('invalid_request', `Unknown action: ${pyStr(action)}`);
      if (action !== 'create_session' && (typeof sid !== 'string' || !sid)) throw new OrchError('invalid_request', 'session_id is required');
      if (action !== 'end_session' && !isObject(payload)) throw new OrchError('invalid_request', 'payload is required');
      const now = Date.now();
      const body = isObject(payload) ? payload : {};
      // What the orchestrator's PostgreSQL would refuse fails its insert (PROTOCOLS.md 2).
      storableText(body);
      if (action === 'create_session') varchar64(body.user_id, 'sessions.user_id');
      let data: JsonObject;
      if (action === 'create_session') data = this.createSession(body, fault, now);
      else {
        const session = this.sessions.get(sid as string);
        if (!session) throw new OrchError('session_not_found', `Session ${pyStr(sid)} not found`);
        data = this.actions[action]!({ session, payload: body, fault, now });
      }
      return { status: 'success', action, request_id: rid, data, timestamp: isoNow() };
    } catch (err) {
      if (err instanceof OrchError) return orchestratorErrorReply(err.code, err.message, rid);
      if (err instanceof QueryError) return orchestratorErrorReply('validation_error', err.message, rid);
      return orchestratorErrorReply('internal_error', (err as Error).message, rid);
    }
  }

  /** A live memory of the envelope's session; anything else is memory_not_found. */
  private memory({ session, payload, now }: Ctx): StoredMemory {
    const id = memoryIdOf(payload);
    const m = this.memories.get(id);
    if (!m || m.session_id !== session.session_id || !isLive(m, now)) throw new OrchError('memory_not_found', `Memory ${id} not found`);
    return m;
  }

  private liveOf(session: StoredSession, now: number): StoredMemory[] {
    return (this.bySession.get(session.session_id) ?? []).filter((m) => isLive(m, now));
  }

  private createSession(payload: JsonObject, fault: WriteFault | undefined, now: number): JsonObject {
    const session: StoredSession = {
      session_id: freshId('session', this.sessions),
      user_id: payload.user_id ?? null,
      session_type: typeof payload.session_type === 'string' ? payload.session_type : 'conversation',
      metadata: payload.session_metadata === undefined ? {} : requireObject(payload.session_metadata, 'session_metadata'),
      created_at: isoNow(now),
      ended_at: null,
      is_archived: false,
      summary: null,
    };
    divergentWrite(
      fault,
      session,
      (s) => {
        this.sessions.set(s.session_id, s);
        this.onChange?.({ sessions: [s] });
      },
      (s) => ({ ...s, metadata: alterValue(s.metadata) as JsonObject }),
    );
    return { session_id: session.session_id, created_at: session.created_at };
  }

  private create({ session, payload, fault, now }: Ctx): JsonObject {
    if (!MEMORY_TYPES.includes(payload.memory_type as string)) {
      throw new OrchError('validation_error', `memory_type must be one of ${MEMORY_TYPES.join(', ')}`);
    }
    const at = isoNow(now);
    const memory: StoredMemory = {
      memory_id: freshId('mem', this.memories),
      session_id: session.session_id,
      memory_type: payload.memory_type as string,
      content: requireObject(payload.content, 'content'),
      tags: tagList(payload.tags),
      created_at: at,
      updated_at: at,
      expires_at: expiresAt(payload.ttl, now),
      priority: priorityOf(payload.priority),
      is_active: true,
      seq: ++this.seq,
    };
    divergentWrite(
      fault,
      memory,
      (m) => {
        this.keep(m);
        this.onChange?.({ memories: [m] });
      },
      (m) => ({ ...m, content: alteredContent(m.content) }),
    );
    return { memory_id: memory.memory_id, created_at: at };
  }

  private update(ctx: Ctx): JsonObject {
    const { payload, fault, now } = ctx;
    const m = this.memory(ctx);
    const changes: Partial<StoredMemory> = {};
    if ('content' in payload) changes.content = requireObject(payload.content, 'content');
    if ('tags' in payload) changes.tags = tagList(payload.tags);
    if ('priority' in payload) changes.priority = priorityOf(payload.priority);
    if ('ttl' in payload) changes.expires_at = expiresAt(payload.ttl, now);
    if (Object.keys(changes).length === 0) throw new OrchError('validation_error', 'nothing to update: give content, tags, ttl or priority');
    changes.updated_at = isoNow(now);
    divergentWrite(
      fault,
      changes,
      (c) => {
        Object.assign(m, c);
        this.changed(m);
        this.onChange?.({ memories: [m] });
      },
      (c) => ({
        ...c,
        ...(isObject(c.content) ? { content: alteredContent(c.content) } : {}),
        priority: (c.priority ?? m.priority) === 10 ? 1 : (c.priority ?? m.priority) + 1,
      }),
    );
    return { memory_id: m.memory_id, updated_at: changes.updated_at, expires_at: changes.expires_at !== undefined ? changes.expires_at : m.expires_at };
  }

  private batchRead({ session, payload, now }: Ctx): JsonObject {
    const ids = payload.memory_ids;
    const filter = payload.filter;
    if (ids === undefined && filter === undefined) throw new OrchError('validation_error', 'memory_ids or filter is required');
    if (ids !== undefined && (!Array.isArray(ids) || !ids.every((i) => typeof i === 'string'))) {
      throw new OrchError('validation_error', 'memory_ids must be a list of strings');
    }
    const f = filter === undefined ? {} : requireObject(filter, 'filter');
    const limit = nonNegativeInt(f.limit, 100, 'filter.limit');
    const offset = nonNegativeInt(f.offset, 0, 'filter.offset');
    const matches = matcher(f, 'memory_type');
    const wanted = ids === undefined ? undefined : new Set(ids as string[]);
    const keep = (m: StoredMemory) => (!wanted || wanted.has(m.memory_id)) && matches(m);
    const type = singleType(f.memory_type);
    const typed = type === undefined ? undefined : this.byType.get(typeKey(session.session_id, type));
    const order = typed ?? this.byCreated.get(session.session_id);
    // Nothing to check beyond liveness when the order is the filter's type (or the filter has none) and nothing else is asked.
    const plain = (absent(f.memory_type) || typed !== undefined) && !wanted && absent(f.tags) && absent(f.time_range);
    const { page, total } =
      order && createdOrder(f.sort)
        ? order.page(f.sort?.order === 'desc', offset, limit, (m) => isLive(m, now), plain ? undefined : keep)
        : pageOf(sortMemories(this.liveOf(session, now).filter(keep), f.sort), offset, limit);
    return {
      memories: page.map(publicMemory),
      total_count: total,
      page_info: { limit, offset, has_more: offset + page.length < total },
    };
  }

  private search({ session, payload, now }: Ctx): JsonObject {
    const { query } = payload;
    if (typeof query !== 'string' || !query) throw new OrchError('validation_error', 'query is required');
    const type = (payload.search_type ?? 'semantic') as SearchType;
    if (!SEARCH_TYPES.includes(type)) throw new OrchError('validation_error', `search_type must be one of ${SEARCH_TYPES.join(', ')}`);
    const filters = payload.filters === undefined ? {} : requireObject(payload.filters, 'filters');
    const minSimilarity = numeric(filters.min_similarity ?? 0.7);
    if (minSimilarity === undefined) throw new OrchError('validation_error', 'min_similarity must be a number');
    const limit = nonNegativeInt(filters.limit, 5, 'filters.limit');
    const matches = matcher(filters, 'memory_types');
    const scored = this.liveOf(session, now)
      .filter(matches)
      .map((m) => ({ m, score: similarity(query, searchText(m), type) }))
      .filter(({ score }) => score > 0 && score >= minSimilarity)
      .sort((a, b) => b.score - a.score || a.m.seq - b.m.seq);
    return {
      results: scored.slice(0, limit).map(({ m, score }) => ({ ...publicMemory(m), similarity_score: score })),
      total_count: scored.length,
      search_metadata: { query, search_type: type, min_similarity: minSimilarity, limit },
    };
  }

  private endSession({ session, payload, fault, now }: Ctx): JsonObject {
    const ended = { ended_at: isoNow(now), is_archived: payload.archive === true, summary: payload.summary ?? null };
    divergentWrite(
      fault,
      ended,
      (e) => {
        Object.assign(session, e);
        this.onChange?.({ sessions: [session] });
      },
      (e) => ({ ...e, is_archived: !e.is_archived }),
    );
    return { session_id: session.session_id, ended_at: ended.ended_at, is_archived: ended.is_archived };
  }

  private bulkDelete({ session, payload, fault, now }: Ctx): JsonObject {
    const filter = requireObject(payload.filter, 'filter');
    const { memory_type, older_than, tags } = filter;
    // An empty filter would wipe the whole session: the orchestrator insists on at least one criterion.
    if (memory_type === undefined && older_than === undefined && tags === undefined) {
      throw new OrchError('validation_error', 'filter needs memory_type, older_than or tags');
    }
    const cutoff = olderThanCutoff(older_than, now);
    const matches = matcher({ memory_type, tags }, 'memory_type');
    const doomed = this.liveOf(session, now).filter((m) => matches(m) && (cutoff === undefined || Date.parse(m.created_at) < cutoff));
    divergentWrite(fault, doomed, (list) => {
      for (const m of list) {
        m.is_active = false;
        this.changed(m);
      }
      if (list.length) this.onChange?.({ memories: list });
    });
    return { deleted_count: doomed.length, filter_applied: filter };
  }

  private summarize({ session, payload, now }: Ctx): JsonObject {
    const matches = matcher({ memory_type: payload.memory_type, time_range: payload.time_range }, 'memory_type');
    const list = sortMemories(this.liveOf(session, now).filter(matches), { field: 'created_at', order: 'asc' });
    const types = [...new Set(list.map((m) => m.memory_type))];
    const lines = list.slice(-5).map((m) => `- ${searchText(m).slice(0, 100)}`);
    const summary = list.length ? `${list.length} memories (${types.join(', ')}). Most recent:\n${lines.join('\n')}` : 'No memories in range.';
    const range = isObject(payload.time_range) ? payload.time_range : { start: list[0]?.created_at ?? null, end: list.at(-1)?.created_at ?? null };
    return { summary, memory_count: list.length, time_range: range };
  }
}

/** older_than: an ISO timestamp, or an age in seconds. */
function olderThanCutoff(v: unknown, now: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  const age = numeric(v);
  if (age !== undefined && age >= 0) return now - age * 1000;
  const t = typeof v === 'string' ? Date.parse(v) : NaN;
  if (Number.isNaN(t)) throw new OrchError('validation_error', 'older_than must be an ISO timestamp or an age in seconds');
  return t;
}

/** Where clients keep a record inside metadata (jarvis: memory; contextual: its snapshot): what a reader may rebuild from. */
const RECORD_KEYS = ['memory', 'snapshot'];

/** The text and any record kept in metadata, altered: either may be what a reader rebuilds from. */
function alteredContent(content: JsonObject): JsonObject {
  const metadata = isObject(content.metadata) ? { ...content.metadata } : content.metadata;
  if (isObject(metadata)) for (const k of RECORD_KEYS) if (k in metadata) metadata[k] = alterValue(metadata[k]);
  return { ...content, text: alterValue(content.text), ...(metadata === undefined ? {} : { metadata }) };
}

/** A sort batch_read can walk in the created_at index: created_at (the default), asc or desc. Others are sorted (and checked) by sortMemories. */
function createdOrder(sort: unknown): sort is { order?: 'asc' | 'desc' } | undefined {
  if (sort === undefined) return true;
  return isObject(sort) && (sort.field ?? 'created_at') === 'created_at' && (sort.order === undefined || sort.order === 'asc' || sort.order === 'desc');
}

const absent = (v: unknown): boolean => v === undefined || v === null;

/** The memory_type a filter asks for when it asks for exactly one. */
function singleType(v: unknown): string | undefined {
  const [t, ...more] = Array.isArray(v) ? v : [v];
  return typeof t === 'string' && more.length === 0 ? t : undefined;
}

const typeKey = (sessionId: string, type: string): string => `${type}\u0000${sessionId}`;

function orderIn(orders: Map<string, CreatedOrder>, key: string): CreatedOrder {
  let order = orders.get(key);
  if (!order) orders.set(key, (order = new CreatedOrder()));
  return order;
}

const pageOf = (found: StoredMemory[], offset: number, limit: number) => ({ page: found.slice(offset, offset + limit), total: found.length });
