/**
 * In-memory ContextualMemoryAgent (PROTOCOLS.md 1.2): interactions and decisions per session, a summary
 * computed on get_context, bare JSON replies. `as-deployed` reproduces the service loop's crash on them.
 */
import { SIM_ERROR_REPLIES } from './services.js';
import { buildSummary, type ContextualInteraction, type Decision } from '../../services/contextual-memory/summary.js';
import { alterValue, divergentWrite, epochSeconds, isObject, noGetMessage, pyStr, type SimModel, type WriteFault, type JsonObject } from './model.js';

export type ContextualMode = 'faithful' | 'as-deployed';

export interface Session {
  newestFirst: ContextualInteraction[];
  decisions: Decision[];
}

const DEFAULT_MAX_TOKENS = 1000;
const errorReply = SIM_ERROR_REPLIES['contextual-memory'];

export class ContextualMemoryModel implements SimModel {
  readonly sessions = new Map<string, Session>();
  /** Called after every stored change (persistence rewrites its file, debounced). */
  onChange?: () => void;
  private readonly startedAt = epochSeconds();
  private requests = 0;

  constructor(readonly options: { mode?: ContextualMode } = {}) {}

  handle(request: unknown, fault?: WriteFault): unknown {
    this.requests++;
    const result = this.dispatch(request, fault);
    // As deployed, the loop calls result.get("status") before sending: every non-dict result raises there
    // and the loop answers with the exception text instead (the write has already happened).
    if (this.options.mode === 'as-deployed' && !isObject(result)) return errorReply(noGetMessage(result));
    return result;
  }

  private dispatch(request: unknown, fault?: WriteFault): unknown {
    if (!isObject(request)) return errorReply(noGetMessage(request));
    switch (request.action) {
      case 'health_check':
        return {
          status: 'ok',
          service: 'contextual_memory_agent',
          timestamp: epochSeconds(),
          uptime_seconds: epochSeconds() - this.startedAt,
          total_requests: this.requests,
        };
      case 'add_interaction':
        return this.addInteraction(request, fault);
      case 'record_decision': {
        // The agent would store anything; the simulator refuses what it could not summarise (bare false).
        const { session_id: sid, decision } = request;
        if (typeof sid !== 'string' || typeof decision !== 'string') return false;
        divergentWrite(
          fault,
          { decision, timestamp: epochSeconds() },
          (d) => {
            this.session(sid).decisions.push(d);
            this.onChange?.();
          },
          (d) => ({ ...d, decision: alterValue(d.decision) as string }),
        );
        return true;
      }
      case 'get_context': {
        const session = typeof request.session_id === 'string' ? this.sessions.get(request.session_id) : undefined;
        const maxTokens = typeof request.max_tokens === 'number' ? request.max_tokens : DEFAULT_MAX_TOKENS;
        return session ? buildSummary(session.newestFirst, session.decisions, maxTokens, epochSeconds()) : null;
      }
      default:
        return errorReply(`Unknown action: ${pyStr(request.action ?? 'unknown')}`);
    }
  }

  private addInteraction(req: JsonObject, fault?: WriteFault): boolean {
    const { session_id: sid, type, content } = req;
    // See record_decision: text the summary cannot use is refused up front.
    if (typeof sid !== 'string' || typeof type !== 'string' || typeof content !== 'string') return false;
    const interaction: ContextualInteraction = { type, content, timestamp: epochSeconds() };
    if (req.metadata) interaction.metadata = req.metadata;
    divergentWrite(
      fault,
      interaction,
      (i) => {
        this.session(sid).newestFirst.unshift(i);
        this.onChange?.();
      },
      (i) => ({ ...i, content: alterValue(i.content) as string }),
    );
    return true;
  }

  private session(sid: string): Session {
    let s = this.sessions.get(sid);
    if (!s) this.sessions.set(sid, (s = { newestFirst: [], decisions: [] }));
    return s;
  }
}
