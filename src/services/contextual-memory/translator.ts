/**
 * ContextualMemoryAgent (PROTOCOLS.md 1.2) on the orchestrator: one orchestrator session per legacy session,
 * interactions and decisions as "context" memories (all kept), and the agent's summary snapshot as an agent_state
 * memory, recomputed and cut exactly when the agent's would be (snapshot.ts): get_context reads one memory.
 */
import { hasDecision, MAX_SESSION_HISTORY, read, recompute, recomputedSince, withDecision, withDecisionAt, type Snapshot } from './snapshot.js';
import { readNewest, taggedFor, taggedMemory, type OrchestratorMemory } from '../orchestrator-client.js';
import { epochStamp, ServiceTranslator } from '../translator.js';
import { isUnknownOutcome, LegError } from '../../legs/types.js';
import { busyAsUnsent, type IdMap, type KeyLocks, type LegacyRequest, type OrchestratorClient, type TranslateContext, type WriteLookup } from '../types.js';
import type { LegacyService } from '../service.js';
import { isObject, textOf } from '../legacy-values.js';
import { KeyChains } from '../../util/key-chains.js';

const DECISION = 'decision';
/** Where the agent's snapshot is kept: an agent_state memory of the session, found by its tag. */
const SNAPSHOT_MEMORY = { memory_type: 'agent_state' };
const SNAPSHOT_TAG = 'contextual:snapshot';

/** Without the store's locks (a translator of one process alone), the session's chain is all there is to hold. */
const IN_PROCESS: KeyLocks = { hold: (_service, _key, work) => work(() => undefined) };

export class ContextualMemoryTranslator extends ServiceTranslator {
  private readonly startedAt = Date.now();
  private requests = 0;
  /** A session's requests one at a time, as the single-threaded agent takes them (a read may change the snapshot). */
  private readonly chains = new KeyChains();

  constructor(
    spec: LegacyService,
    client: OrchestratorClient,
    ids: IdMap,
    /** Held around every change of the snapshot: it is read, changed and written back, and replicas share it. */
    private readonly locks: KeyLocks = IN_PROCESS,
  ) {
    super(spec, client, ids);
  }

  // The agent keeps sessions implicitly (first write creates one), so createMissing changes nothing here.
  async handle(request: LegacyRequest, ctx: TranslateContext): Promise<unknown> {
    this.requests++;
    const { action, session_id: sessionId } = request;
    switch (action) {
      case 'health_check':
        return {
          status: 'ok',
          service: 'contextual_memory_agent',
          timestamp: Date.now() / 1000,
          uptime_seconds: (Date.now() - this.startedAt) / 1000,
          total_requests: this.requests,
        };
      case 'add_interaction': {
        const { type, content, metadata } = request;
        // Text the summary cannot use is refused with the agent's bare false.
        if (typeof sessionId !== 'string' || typeof type !== 'string' || typeof content !== 'string') return false;
        // The legacy record's epoch timestamp rides along; the legacy fields win over same-named metadata keys.
        const at = epochStamp(ctx, this.stampScope(sessionId));
        const stored = { ...(isObject(metadata) ? metadata : {}), type, timestamp: at };
        return this.exclusive(sessionId, async () => {
          const id = await this.session(sessionId);
          // The interaction is stored while the ones before it and the snapshot are read (the session is held, so
          // nothing else lands meanwhile): one round trip instead of three. The read may or may not see it.
          const making = this.record(id, content, stored, taggedFor([type], ctx.writeId));
          return onceMade(making, async () => {
            const [made, earlier, current] = await settled(making, this.newestInteractions(id, MAX_SESSION_HISTORY + 1), this.snapshotOf(id));
            const newest = [{ type, content }, ...earlier.filter((m) => m.memoryId !== made)];
            // Past 50 interactions the agent recomputes its snapshot over the 51 newest (it then drops the oldest).
            if (newest.length > MAX_SESSION_HISTORY) await this.store(id, current, recompute(newest.slice(0, MAX_SESSION_HISTORY + 1), current?.value, at));
            return true;
          });
        });
      }
      case 'record_decision': {
        const { decision } = request;
        if (typeof sessionId !== 'string' || typeof decision !== 'string') return false;
        return this.exclusive(sessionId, async () => {
          const at = epochStamp(ctx, this.stampScope(sessionId));
          const id = await this.session(sessionId);
          // The snapshot is read while the decision is stored (the create leaves it as it is): a round trip fewer.
          const making = this.record(id, decision, { type: DECISION, timestamp: at }, taggedFor([DECISION], ctx.writeId));
          return onceMade(making, async () => {
            const [, current] = await settled(making, this.snapshotOf(id));
            await this.store(id, current, withDecision(current?.value, decision, at));
            return true;
          });
        });
      }
      case 'get_context':
        return typeof sessionId === 'string' ? this.chains.run(sessionId, () => this.getContext(sessionId, request.max_tokens)) : null;
      default:
        return this.unknownAction(action);
    }
  }

  /**
   * The legacy snapshot copied as it is (backfill, repair): its decisions follow as record_decision requests, or, where
   * the session's memories stay (`listsKept`), the decisions it holds stay.
   */
  restore(sessionId: string, [snapshot]: unknown[], listsKept = false): Promise<void> {
    return this.exclusive(sessionId, async () => {
      const id = await this.session(sessionId);
      const current = await this.snapshotOf(id);
      if (!isObject(snapshot)) {
        if (current) await this.client.call('delete', id, { memory_id: current.memoryId });
        return;
      }
      // As read from the agent's file (numbers with their spelling).
      await this.store(id, current, { ...snapshot, key_decisions: listsKept ? (current?.value.key_decisions ?? []) : [] } as Snapshot);
    });
  }

  /** A repair's removal of the session's newest interactions (list 0) or decisions (list 1), keeping those before them. */
  dropNewest(sessionId: string, list: number, count: number): Promise<void> {
    return this.exclusive(sessionId, async () => {
      const id = await this.sessions.find(sessionId);
      for (const m of id ? await this.newestOf(id, count, list === 1) : []) await this.client.call('delete', id, { memory_id: m.memory_id });
    });
  }

  /**
   * A write of this service is its memory, then the snapshot (a record_decision's, or past 50 interactions the
   * recomputed summary): when its outcome was unknown, the memory may be there without the snapshot update (lost, or
   * never sent once an earlier call's reply timed out). The look-up finishes such a write, at the time its memory
   * carries, rather than report it applied as it is, or absent, which would store its memory twice.
   */
  override lookup(request: LegacyRequest, writeId: string): Promise<WriteLookup> {
    const { action, session_id: sessionId } = request;
    if (typeof sessionId !== 'string' || this.createsIn(request) === undefined) return super.lookup(request, writeId);
    return this.exclusive(sessionId, async () => {
      const id = await this.sessions.find(sessionId);
      if (!id) return 'absent';
      const [made, current] = await settled(taggedMemory(this.client, id, writeId), this.snapshotOf(id));
      if (!made) return 'absent';
      const at = isObject(made.content.metadata) ? made.content.metadata.timestamp : undefined;
      if (action === 'record_decision') {
        const decision = textOf(made.content.text);
        // In time order: at new-primary the agent may have gone on to later decisions meanwhile.
        if (!hasDecision(current?.value, decision, at)) await this.store(id, current, withDecisionAt(current?.value, decision, at));
      } else if (!recomputedSince(current?.value, at)) {
        const newest = await this.newestInteractions(id, MAX_SESSION_HISTORY + 1);
        if (newest.length > MAX_SESSION_HISTORY) await this.store(id, current, recompute(newest, current?.value, at));
      }
      return 'applied';
    });
  }

  protected createsIn(request: LegacyRequest): string | undefined {
    const { action, session_id: sessionId } = request;
    return (action === 'add_interaction' || action === 'record_decision') && typeof sessionId === 'string' ? sessionId : undefined;
  }

  /** Stores one interaction or decision as a context memory of the orchestrator session; resolves with its memory id. */
  private async record(orchestratorId: string, text: string, metadata: Record<string, unknown>, tags: string[]): Promise<string> {
    const data = await this.client.call('create', orchestratorId, { ...this.own, content: { text, metadata }, tags });
    return String(data.memory_id);
  }

  /** The legacy session's orchestrator session, made on first use. */
  private session(sessionId: string): Promise<string> {
    return this.sessions.ensure(sessionId, { user_id: 'default', session_metadata: { legacy_session_id: sessionId } });
  }

  /** The snapshot as the agent stores it, cut by this read when the budget says so (and stored cut). */
  private async getContext(sessionId: string, maxTokens: unknown): Promise<unknown> {
    const orchestratorId = await this.sessions.find(sessionId);
    if (!orchestratorId) return null;
    const first = await this.readSnapshot(orchestratorId, maxTokens, false);
    if (!first.cuts) return first.reply;
    // A read that cuts changes the snapshot: it is made again under the session's lock, over the snapshot as it is then.
    return this.held(sessionId, async () => (await this.readSnapshot(orchestratorId, maxTokens, true)).reply);
  }

  /** get_context's reply over the stored snapshot, and whether it cuts it (stored cut when `store`). */
  private async readSnapshot(orchestratorId: string, maxTokens: unknown, store: boolean): Promise<{ reply: unknown; cuts: boolean }> {
    const current = await this.snapshotOf(orchestratorId);
    if (!current) return { reply: null, cuts: false };
    const { reply, changed } = read(current.value, maxTokens);
    if (changed && store) await this.store(orchestratorId, current, changed);
    return { reply, cuts: changed !== undefined };
  }

  /** Work that reads, changes and writes back the session's snapshot: one at a time here and across replicas. */
  private exclusive<T>(sessionId: string, work: () => Promise<T>): Promise<T> {
    return this.chains.run(sessionId, () => this.held(sessionId, work));
  }

  /**
   * `work` under the session's lock shared by the replicas. A session held elsewhere past the wait fails as a call
   * not sent for want of room: refused, not an unknown outcome.
   */
  private held<T>(sessionId: string, work: () => Promise<T>): Promise<T> {
    return this.locks.hold(this.service, sessionId, work).catch((err: unknown) => {
      throw busyAsUnsent(err);
    });
  }

  /** The session's newest interactions (decisions aside), newest first, at most `count`. */
  private async newestInteractions(orchestratorId: string, count: number): Promise<{ type: string; content: string; memoryId: string }[]> {
    return (await this.newestOf(orchestratorId, count, false)).map((m) => ({
      type: textOf(isObject(m.content.metadata) ? m.content.metadata.type : undefined),
      content: textOf(m.content.text),
      memoryId: m.memory_id,
    }));
  }

  /** The session's newest interactions, or decisions, newest first, at most `count`. */
  private async newestOf(orchestratorId: string, count: number, decisions: boolean): Promise<OrchestratorMemory[]> {
    const isOne = (m: OrchestratorMemory) => (isObject(m.content.metadata) && m.content.metadata.type === DECISION) === decisions;
    const found = await readNewest(this.client, orchestratorId, this.own, { wanted: (whole) => count - whole.filter(isOne).length });
    return found.filter(isOne).reverse().slice(0, count);
  }

  /** The stored snapshot (an agent_state memory of the session), if the session has one. */
  private async snapshotOf(orchestratorId: string): Promise<{ memoryId: string; value: Snapshot } | undefined> {
    const data = await this.client.call('batch_read', orchestratorId, {
      filter: { ...SNAPSHOT_MEMORY, tags: [SNAPSHOT_TAG], sort: { field: 'created_at', order: 'desc' }, limit: 1 },
    });
    const [m] = Array.isArray(data.memories) ? data.memories.filter(isObject) : [];
    const value = m && isObject(m.content) && isObject(m.content.metadata) ? m.content.metadata.snapshot : undefined;
    return m && isObject(value) ? { memoryId: String(m.memory_id), value } : undefined;
  }

  private async store(orchestratorId: string, current: { memoryId: string } | undefined, snapshot: Snapshot): Promise<void> {
    const content = { text: 'contextual memory summary snapshot', source_agent: 'contextual_memory_agent', metadata: { snapshot } };
    if (current) await this.client.call('update', orchestratorId, { memory_id: current.memoryId, content });
    else await this.client.call('create', orchestratorId, { ...SNAPSHOT_MEMORY, content, tags: [SNAPSHOT_TAG] });
  }
}

/**
 * The rest of a write once its memory's create is on its way: should it fail after the create was answered (a read
 * refused unsent, the snapshot's update refused), the write is an unknown outcome, whatever the failure alone would
 * say, so that it is looked up (and finished there) rather than sent again, storing its memory twice. A create that
 * failed keeps its own failure: refused or unsent, nothing was stored.
 */
async function onceMade<T>(making: Promise<string>, rest: () => Promise<T>): Promise<T> {
  try {
    return await rest();
  } catch (err) {
    const made = await making.then(
      () => true,
      () => false,
    );
    if (!made || isUnknownOutcome(err)) throw err;
    const why = err instanceof Error ? err.message : String(err);
    throw new LegError(
      'partial',
      `its memory was stored, the rest of the write failed (${why}): looked up before anything is sent again`,
      err instanceof LegError ? err.endpoint : 'orchestrator',
    );
  }
}

/**
 * Every call's value once all have settled, or the first failure: a session's next request must not start while a
 * call of this one is still under way (a failure of one does not end the others).
 */
async function settled<T extends unknown[]>(...calls: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const results = await Promise.allSettled(calls);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as T;
}
