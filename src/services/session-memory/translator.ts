/**
 * SessionMemoryAgent (PROTOCOLS.md 1.1) on the orchestrator: one orchestrator session per legacy session,
 * each interaction a "conversation" memory, get_context rebuilt with the agent's own token budget.
 */
import { randomUUID } from 'node:crypto';
import { readNewest, taggedFor, type OrchestratorMemory } from '../orchestrator-client.js';
import { ServiceTranslator } from '../translator.js';
import { contextShortfall, isoLocal, selectContext, type ContextEntry } from './context.js';
import { OrchestratorError, type IdMap, type LegacyRequest, type OrchestratorClient, type TranslateContext } from '../types.js';
import type { LegacyService } from '../service.js';
import { isObject, isText, legacyKey, pyTruthy, textOf } from '../legacy-values.js';
import { numberOf } from '../../util/pyjson.js';
import { stampMicros } from '../../util/stamps.js';

const SOURCE_AGENT = 'session_memory_agent';
const DEFAULT_MAX_TOKENS = 2000;

export class SessionMemoryTranslator extends ServiceTranslator {
  constructor(
    spec: LegacyService,
    client: OrchestratorClient,
    ids: IdMap,
    /** The agent's host's zone: its timestamps are local times there (the process's own zone when absent). */
    private readonly timeZone?: string,
  ) {
    super(spec, client, ids);
  }

  async handle(request: LegacyRequest, ctx: TranslateContext): Promise<unknown> {
    const requestId = request.request_id ?? null;
    const { action } = request;
    if (action === 'health_check') return { status: 'ok' };
    if (action === 'create_session') return this.createSession(request, requestId);
    if (action === 'add_interaction') return this.addInteraction(request, ctx, requestId);
    if (action === 'get_context' || action === 'clear_session' || action === 'delete_session') {
      if (!pyTruthy(request.session_id)) return this.spec.errorReply('Missing session_id', requestId);
      const orchestratorId = await this.sessions.find(legacyKey(request.session_id));
      if (action === 'get_context') return this.getContext(orchestratorId, request.max_tokens, requestId);
      if (orchestratorId && action === 'delete_session') await this.deleteSession(legacyKey(request.session_id), orchestratorId);
      else if (orchestratorId) await this.client.call('bulk_delete', orchestratorId, { filter: this.own });
      return { status: 'success', request_id: requestId };
    }
    return this.unknownAction(action, requestId);
  }

  protected createsIn(request: LegacyRequest): string | undefined {
    return request.action === 'add_interaction' && pyTruthy(request.session_id) ? legacyKey(request.session_id) : undefined;
  }

  private async createSession(request: LegacyRequest, requestId: unknown): Promise<unknown> {
    // The agent does `session_id or str(uuid4())`, and re-creating an existing session keeps its history.
    const sessionId = isText(request.session_id) ? request.session_id : randomUUID();
    const metadata = request.metadata ?? {};
    await this.sessions.ensure(legacyKey(sessionId), {
      user_id: request.user_id ?? 'default',
      session_metadata: { legacy_session_id: sessionId, metadata },
      session_type: 'conversation',
    });
    return { status: 'success', session_id: sessionId, request_id: requestId };
  }

  private async addInteraction(request: LegacyRequest, ctx: TranslateContext, requestId: unknown): Promise<unknown> {
    const { session_id: sessionId, role, content } = request;
    // role and content must be text: the agent's token estimate measures them.
    if (!pyTruthy(sessionId) || !isText(role) || !isText(content)) {
      return this.spec.errorReply('Missing required parameters', requestId);
    }
    const key = legacyKey(sessionId);
    const orchestratorId = ctx.createMissing
      ? await this.sessions.ensure(key, {
          user_id: 'default',
          session_metadata: { legacy_session_id: sessionId, metadata: {} },
          session_type: 'conversation',
        })
      : await this.sessions.find(key);
    // The agent's own answer for a write to a session it does not know.
    if (!orchestratorId) return { status: 'error', request_id: requestId };
    const metadata = request.metadata ?? {};
    const extraTags = isObject(metadata) && Array.isArray(metadata.tags) ? metadata.tags.map(textOf) : [];
    await this.client.call('create', orchestratorId, {
      ...this.own,
      content: {
        text: content,
        role,
        timestamp: typeof ctx.stamp === 'string' ? ctx.stamp : isoLocal(stampMicros(this.stampScope(key), ctx.at), this.timeZone),
        source_agent: SOURCE_AGENT,
        metadata,
      },
      tags: taggedFor([...new Set(['conversation', role, ...extraTags])], ctx.writeId),
    });
    return { status: 'success', request_id: requestId };
  }

  /**
   * Empties and ends the session, then drops its mapping. A replay whose first attempt landed (its reply lost)
   * may find the session gone, on an orchestrator that drops ended sessions: the delete is done, not failed.
   */
  private async deleteSession(key: string, orchestratorId: string): Promise<void> {
    try {
      await this.client.call('bulk_delete', orchestratorId, { filter: this.own });
      await this.client.call('end_session', orchestratorId, { archive: false });
    } catch (err) {
      if (!(err instanceof OrchestratorError && err.code === 'session_not_found')) throw err;
    }
    await this.sessions.forget(key);
  }

  private async getContext(orchestratorId: string | undefined, maxTokens: unknown, requestId: unknown): Promise<unknown> {
    const budget = numberOf(maxTokens) ?? DEFAULT_MAX_TOKENS;
    const entries = (memories: OrchestratorMemory[]): ContextEntry[] =>
      memories.map(({ content }) => ({ role: content.role as string, content: content.text as string, timestamp: content.timestamp as string }));
    // Newest pages only, until the budget's walk from the newest stops short of the oldest read.
    const memories = orchestratorId
      ? await readNewest(this.client, orchestratorId, this.own, { wanted: (whole) => contextShortfall(entries(whole), budget) })
      : [];
    return { status: 'success', context: selectContext(entries(memories), budget), request_id: requestId };
  }
}
