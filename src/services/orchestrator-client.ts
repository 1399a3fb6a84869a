/**
 * The Memory Orchestrator over a leg (PROTOCOLS.md section 2), plus the two access patterns every
 * translator shares: legacy key -> orchestrator session, and reading a session's newest memories page by page.
 */
import { randomUUID } from 'node:crypto';
import { OrchestratorError, type ServiceName, type IdMap, type OrchestratorClient, type WriteLookup } from './types.js';
import { assertStorable } from './storable.js';
import { LegError, type Leg } from '../legs/types.js';
import { numberOf, pyDumps, pyLoads } from '../util/pyjson.js';
import { isObject } from './legacy-values.js';
import { withDeadline } from '../util/deadline.js';

type Json = Record<string, unknown>;

export class LegOrchestratorClient implements OrchestratorClient {
  constructor(private readonly leg: Leg) {}

  async call(action: string, sessionId: string | undefined, payload: Json = {}): Promise<Json> {
    assertStorable(action, payload);
    const envelope = {
      action,
      session_id: sessionId,
      payload,
      // 8 random hex digits, from randomUUID's cached entropy (a synchronous randomBytes call per request costs more).
      request_id: `req-${randomUUID().slice(0, 8)}`,
      timestamp: new Date().toISOString(),
    };
    return replyData(await this.leg.call(pyDumps(envelope)), action, this.leg.endpoint);
  }
}

/** An orchestrator reply's data; a reply that is not a JSON object, or says error, throws. */
function replyData(raw: Buffer, action: string, endpoint: string): Json {
  let reply: unknown;
  try {
    // Python's reading: the orchestrator's numbers keep the spelling Python gave them.
    reply = pyLoads(raw);
  } catch {
    throw new LegError('protocol', `orchestrator ${action}: reply is not JSON`, endpoint);
  }
  if (!isObject(reply)) throw new LegError('protocol', `orchestrator ${action}: reply is not an object`, endpoint);
  if (reply.status === 'error') {
    const error = isObject(reply.error) ? reply.error : {};
    throw new OrchestratorError(String(error.code ?? 'internal_error'), String(error.message ?? `orchestrator ${action} failed`));
  }
  // Health actions answer a bare {"status":"ok"} without data.
  return isObject(reply.data) ? reply.data : {};
}

/** The session a create_session's reply names (undefined: none, or not a success). */
function sessionOf(raw: Buffer | undefined, endpoint: string): string | undefined {
  if (raw === undefined) return undefined;
  try {
    const id = replyData(raw, 'create_session', endpoint).session_id;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

/** One memory as batch_read returns it. */
export interface OrchestratorMemory {
  memory_id: string;
  memory_type: string;
  content: Json;
  tags: string[];
  created_at: string;
}

/** A memory's creation time as epoch seconds (the legacy services' float timestamps). */
export const createdAtSeconds = (memory: OrchestratorMemory): number => Date.parse(memory.created_at) / 1000;

const PAGE = 100;
/**
 * Pages of a read that needs every memory: few round trips, each of which costs the orchestrator a count of the
 * session's matches (total_count) besides the page. One that caps its pages lower is paged on from what it sent.
 */
const ALL_PAGE = 5_000;

/** What every write tag starts with (the runbook's partial index on memory_tags holds only these). */
export const WRITE_TAG_PREFIX = 'memshift:w:';
/** The tag that finds a write's memory again (src/outbox/resolve.ts). */
export const writeTag = (writeId: string): string => `${WRITE_TAG_PREFIX}${writeId}`;

/** `tags` plus the write's tag when the write has an id. */
export const taggedFor = (tags: string[], writeId: string | undefined): string[] => (writeId ? [...tags, writeTag(writeId)] : tags);

/** Whether a create tagged with `writeId` is in the legacy key's orchestrator session. */
export async function createdBy(sessions: SessionRegistry, client: OrchestratorClient, legacyKey: string, writeId: string): Promise<WriteLookup> {
  const sessionId = await sessions.find(legacyKey);
  if (!sessionId) return 'absent';
  return (await taggedMemory(client, sessionId, writeId)) ? 'applied' : 'absent';
}

/** The memory a create tagged with `writeId` made in the orchestrator session, if it did. */
export async function taggedMemory(client: OrchestratorClient, sessionId: string, writeId: string): Promise<OrchestratorMemory | undefined> {
  const data = await client.call('batch_read', sessionId, { filter: { tags: [writeTag(writeId)], limit: 1 } });
  return memoriesOf(data)[0];
}

/** The memories of one batch_read reply, with content and tags as objects and lists whatever came. */
function memoriesOf(data: Json): OrchestratorMemory[] {
  const page = Array.isArray(data.memories) ? data.memories.filter(isObject) : [];
  return page.map((m) => ({ ...m, content: isObject(m.content) ? m.content : {}, tags: Array.isArray(m.tags) ? m.tags : [] }) as OrchestratorMemory);
}

const hasMore = (data: Json): boolean => isObject(data.page_info) && data.page_info.has_more === true;

/** Every memory of one session matching `filter`, oldest first, across all pages (a reply that holds them all). */
export async function readAllMemories(client: OrchestratorClient, sessionId: string, filter: Json): Promise<OrchestratorMemory[]> {
  return readNewest(client, sessionId, filter, { pageSize: ALL_PAGE });
}

export interface ReadNewestOptions {
  /**
   * How many more memories the reply may need, given those known whole so far (oldest first; none before the
   * first page): 0 once it has enough. It sizes the next page. Absent: every memory is read.
   */
  wanted?(oldestFirst: OrchestratorMemory[]): number;
  /** The most one page asks for. */
  pageSize?: number;
}

/** The fewest a page asks for: a guess that falls short costs a round trip, which costs more than a few memories. */
const MIN_PAGE = 10;

/**
 * The newest memories of one session matching `filter`, oldest first: pages read newest first until `wanted`
 * says the memories known whole (every memory newer than the oldest read; memories sharing its created_at may
 * continue on the next page) are enough, each page as large as it guesses the reply still needs, so a read costs
 * what its reply needs, not the session's history. Ordered by byCreation, whatever order ties came in.
 */
export async function readNewest(client: OrchestratorClient, sessionId: string, filter: Json, o: ReadNewestOptions = {}): Promise<OrchestratorMemory[]> {
  const { wanted, pageSize = PAGE } = o;
  const limitFor = (n: number) => (Number.isNaN(n) ? pageSize : Math.min(pageSize, Math.max(MIN_PAGE, Math.ceil(n))));
  const seen = new Map<string, OrchestratorMemory>();
  for (let offset = 0, limit = wanted ? limitFor(wanted([])) : pageSize; ;) {
    const data = await client.call('batch_read', sessionId, { filter: { ...filter, sort: { field: 'created_at', order: 'desc' }, limit, offset } });
    const page = memoriesOf(data);
    // A memory written meanwhile shifts the pages by one: the one seen twice counts once.
    for (const m of page) seen.set(m.memory_id, m);
    if (!hasMore(data) || page.length === 0) return [...seen.values()].sort(byCreation);
    // On from what the page held: an orchestrator may cap the limit below the one asked for.
    offset += (data.memories as unknown[]).length;
    // A read that needs every memory sorts once, at the end; the others sort what is whole, page by page.
    if (!wanted) continue;
    const edge = page.at(-1)!.created_at;
    const whole = [...seen.values()].filter((m) => m.created_at > edge).sort(byCreation);
    const more = wanted(whole);
    if (whole.length && more <= 0) return whole;
    limit = limitFor(more);
  }
}

/** A record's legacy time as memshift wrote it (strictly increasing per key): what orders memories sharing a created_at. */
const legacyTime = (m: OrchestratorMemory): unknown => m.content.timestamp ?? (isObject(m.content.metadata) ? m.content.metadata.timestamp : undefined);

/** Oldest first: the orchestrator's created_at, then (two memories may share one) the legacy time, then the id. */
function byCreation(a: OrchestratorMemory, b: OrchestratorMemory): number {
  if (a.created_at !== b.created_at) return a.created_at < b.created_at ? -1 : 1;
  const [x, y] = [legacyTime(a), legacyTime(b)];
  const [nx, ny] = [numberOf(x), numberOf(y)];
  if (nx !== undefined && ny !== undefined && nx !== ny) return nx - ny;
  if (typeof x === 'string' && typeof y === 'string' && x !== y) return x < y ? -1 : 1;
  return a.memory_id < b.memory_id ? -1 : a.memory_id > b.memory_id ? 1 : 0;
}

/**
 * Legacy key -> orchestrator session through the id map. Concurrent first uses of one key share a single
 * lookup-or-create, so two first writes racing on one legacy session make one orchestrator session, not two.
 */
export class SessionRegistry {
  private readonly busy = new Map<string, Promise<string>>();
  /**
   * Sessions made whose mapping the store did not take (it went away between the two), or named by a create_session
   * answered after its deadline (`unanswered`), by legacy key, with when: the key's next first use maps that one rather
   * than make another, which would leave the first behind, empty (a copy retried once the store is back). Only for a
   * while, and let go once the key is found mapped or forgotten, lest a session since mapped and ended by another
   * process be taken up again.
   */
  private readonly unmapped = new Map<string, { sessionId: string; at: number }>();
  /**
   * create_session calls left unanswered (timed out, or their connection ended), by legacy key: each settles once its
   * late reply came (the session it names is then `unmapped`'s) or none will. The key's next first use waits a while
   * for it: a session made meanwhile would leave the late one behind, empty (the orchestrator cannot be asked for a
   * session by its legacy id).
   */
  private readonly unanswered = new Map<string, Promise<void>>();

  constructor(
    private readonly client: OrchestratorClient,
    private readonly ids: IdMap,
    private readonly service: ServiceName,
  ) {}

  async find(legacyKey: string): Promise<string | undefined> {
    const pending = this.busy.get(legacyKey);
    const stored = () => this.ids.get(this.service, legacyKey);
    return pending ? pending.catch(stored) : stored();
  }

  /** The mapped session, created (with this create_session payload) on first use. */
  ensure(legacyKey: string, payload: Json): Promise<string> {
    const pending = this.busy.get(legacyKey);
    if (pending) return pending;
    const next = (async () => {
      const mapped = await this.ids.get(this.service, legacyKey);
      if (mapped === undefined) return this.create(legacyKey, payload);
      this.unmapped.delete(legacyKey);
      return mapped;
    })().finally(() => this.busy.delete(legacyKey));
    this.busy.set(legacyKey, next);
    return next;
  }

  forget(legacyKey: string): Promise<void> {
    this.unmapped.delete(legacyKey);
    this.unanswered.delete(legacyKey);
    return this.ids.delete(this.service, legacyKey);
  }

  private async create(legacyKey: string, payload: Json): Promise<string> {
    await this.lateAnswer(legacyKey);
    const made = this.unmapped.get(legacyKey);
    const sessionId = made && Date.now() - made.at < UNMAPPED_KEPT_MS ? made.sessionId : await this.made(legacyKey, payload);
    try {
      // Another replica may have mapped the key first: its session is the one every later request uses.
      const mapped = await this.ids.set(this.service, legacyKey, sessionId);
      this.unmapped.delete(legacyKey);
      return mapped;
    } catch (err) {
      this.keepUnmapped(legacyKey, sessionId);
      throw err;
    }
  }

  private async made(legacyKey: string, payload: Json): Promise<string> {
    try {
      const data = await this.client.call('create_session', undefined, payload);
      if (typeof data.session_id !== 'string') throw new OrchestratorError('internal_error', 'create_session returned no session_id');
      return data.session_id;
    } catch (err) {
      if (err instanceof LegError && err.late) this.awaitLate(legacyKey, err.late, err.endpoint);
      throw err;
    }
  }

  /** Keeps a create_session's late reply for the key's next first use (see `unanswered`). */
  private awaitLate(legacyKey: string, late: Promise<Buffer | undefined>, endpoint: string): void {
    const settled: Promise<void> = late
      .then((raw) => {
        const sessionId = sessionOf(raw, endpoint);
        if (sessionId !== undefined && this.unanswered.get(legacyKey) === settled) this.keepUnmapped(legacyKey, sessionId);
      })
      .catch(() => undefined)
      .finally(() => {
        if (this.unanswered.get(legacyKey) === settled) this.unanswered.delete(legacyKey);
      });
    this.unanswered.delete(legacyKey);
    this.unanswered.set(legacyKey, settled);
    if (this.unanswered.size > UNMAPPED_MAX) this.unanswered.delete(this.unanswered.keys().next().value!);
  }

  /** Waits, for a while, for the key's create_session left unanswered: a backend that hangs keeps it for good. */
  private async lateAnswer(legacyKey: string): Promise<void> {
    const settled = this.unanswered.get(legacyKey);
    if (settled) await withDeadline(settled, LATE_SESSION_WAIT_MS, () => new Error('no late answer')).catch(() => undefined);
  }

  private keepUnmapped(legacyKey: string, sessionId: string): void {
    this.unmapped.delete(legacyKey);
    this.unmapped.set(legacyKey, { sessionId, at: Date.now() });
    if (this.unmapped.size > UNMAPPED_MAX) this.unmapped.delete(this.unmapped.keys().next().value!);
  }
}

/** How long a session made but not mapped is taken up by its key's next first use, and how many are kept. */
const UNMAPPED_KEPT_MS = 60_000;
const UNMAPPED_MAX = 10_000;
/**
 * How long a key's first use waits for its create_session left unanswered: a late answer comes once the backend
 * works the call off (a slow one soon after the deadline; a restarted one never, its connection's end then settles it).
 */
const LATE_SESSION_WAIT_MS = 3_000;
