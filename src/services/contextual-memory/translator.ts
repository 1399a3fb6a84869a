/**
 * ContextualMemoryAgent (PROTOCOLS.md 1.2) on the orchestrator: one orchestrator session per legacy
 * session, interactions and decisions as "context" memories, get_context rebuilt with the agent's summary.
 */
import { buildSummary, type ContextualInteraction, type Decision } from './summary.js';
import { createdAtSeconds, readAllMemories, taggedFor } from '../orchestrator-client.js';
import { ServiceTranslator } from '../translator.js';
import type { LegacyRequest, TranslateContext } from '../types.js';
import { isObject, textOf } from '../legacy-values.js';
import { numberOf, pyFloat } from '../../util/pyjson.js';

const DECISION = 'decision';
const DEFAULT_MAX_TOKENS = 1000;

export class ContextualMemoryTranslator extends ServiceTranslator {
  private readonly startedAt = Date.now();
  private requests = 0;

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
        const stored = { ...(isObject(metadata) ? metadata : {}), type, timestamp: epochOf(ctx) };
        await this.record(sessionId, content, stored, taggedFor([type], ctx.writeId));
        return true;
      }
      case 'record_decision': {
        const { decision } = request;
        if (typeof sessionId !== 'string' || typeof decision !== 'string') return false;
        await this.record(sessionId, decision, { type: DECISION, timestamp: epochOf(ctx) }, taggedFor([DECISION], ctx.writeId));
        return true;
      }
      case 'get_context':
        return typeof sessionId === 'string' ? this.getContext(sessionId, request.max_tokens) : null;
      default:
        return this.unknownAction(action);
    }
  }

  protected createsIn(request: LegacyRequest): string | undefined {
    const { action, session_id: sessionId } = request;
    return (action === 'add_interaction' || action === 'record_decision') && typeof sessionId === 'string' ? sessionId : undefined;
  }

  private async record(sessionId: string, text: string, metadata: Record<string, unknown>, tags: string[]): Promise<void> {
    const orchestratorId = await this.sessions.ensure(sessionId, {
      user_id: 'default',
      session_metadata: { legacy_session_id: sessionId },
    });
    await this.client.call('create', orchestratorId, { ...this.own, content: { text, metadata }, tags });
  }

  private async getContext(sessionId: string, maxTokens: unknown): Promise<unknown> {
    const orchestratorId = await this.sessions.find(sessionId);
    if (!orchestratorId) return null;
    const memories = await readAllMemories(this.client, orchestratorId, this.own);
    const interactions: ContextualInteraction[] = [];
    const decisions: Decision[] = [];
    for (const memory of memories) {
      const { type, timestamp, ...metadata } = (memory.content.metadata ?? {}) as Record<string, unknown>;
      const text = textOf(memory.content.text);
      const at = numberOf(timestamp) ?? createdAtSeconds(memory);
      if (memory.tags.includes(DECISION) && type === DECISION) decisions.push({ decision: text, timestamp: at });
      else interactions.unshift({ type: textOf(type), content: text, ...(Object.keys(metadata).length ? { metadata } : {}), timestamp: at });
    }
    const budget = numberOf(maxTokens) ?? DEFAULT_MAX_TOKENS;
    return buildSummary(interactions, decisions, budget, Date.now() / 1000);
  }
}

/** The record's legacy time as the agent writes it: epoch seconds, a float. */
const epochOf = (ctx: TranslateContext) => pyFloat((ctx.at ?? new Date()).getTime() / 1000);
