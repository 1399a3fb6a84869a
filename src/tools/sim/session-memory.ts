/** In-memory SessionMemoryAgent (PROTOCOLS.md 1.1): sessions with conversation history and a token-budgeted context. */
import { randomUUID } from 'node:crypto';
import { contextWithin, isNonEmptyText, nowIso, numeric, truthy } from './python.js';
import { SIM_ERROR_REPLIES } from './services.js';
import { alterValue, divergentWrite, isObject, noGetMessage, pyStr, type SimModel, type WriteFault, type JsonObject } from './model.js';

/** One stored interaction, as the agent keeps it. */
interface Interaction {
  role: string;
  content: string;
  timestamp: string;
  metadata: unknown;
}

export interface Session {
  user_id: unknown;
  metadata: unknown;
  interactions: Interaction[];
}

/** A stored change, for persistence (src/sim/storage). */
export type SessionMemoryChange =
  | { kind: 'session'; sessionId: string; session: Session }
  | { kind: 'interaction'; sessionId: string; interaction: Interaction }
  | { kind: 'clear' | 'delete'; sessionId: string };

const DEFAULT_MAX_TOKENS = 2000;
const errorReply = SIM_ERROR_REPLIES['session-memory'];

export class SessionMemoryModel implements SimModel {
  readonly sessions = new Map<string, Session>();
  onChange?: (change: SessionMemoryChange) => void;

  handle(request: unknown, fault?: WriteFault): unknown {
    if (!isObject(request)) return errorReply(noGetMessage(request));
    const rid = request.request_id ?? null;
    const sid = request.session_id;
    switch (request.action) {
      case 'health_check':
        return { status: 'ok' };
      case 'create_session':
        return this.createSession(request, rid, fault);
      case 'add_interaction':
        return this.addInteraction(request, rid, fault);
      case 'get_context': {
        if (!truthy(sid)) return errorReply('Missing session_id', rid);
        const maxTokens = numeric(request.max_tokens) ?? DEFAULT_MAX_TOKENS;
        const context = contextWithin(this.sessions.get(String(sid))?.interactions ?? [], maxTokens).map(({ role, content, timestamp }) => ({
          role,
          content,
          timestamp,
        }));
        return { status: 'success', context, request_id: rid };
      }
      case 'clear_session':
      case 'delete_session': {
        if (!truthy(sid)) return errorReply('Missing session_id', rid);
        // Like SQL DELETEs, both succeed for a session that does not exist.
        const key = String(sid);
        divergentWrite(fault, key, (k) => {
          if (request.action === 'delete_session') this.sessions.delete(k);
          else if (this.sessions.has(k)) this.sessions.get(k)!.interactions = [];
          this.onChange?.({ kind: request.action === 'delete_session' ? 'delete' : 'clear', sessionId: k });
        });
        return { status: 'success', request_id: rid };
      }
      default:
        return errorReply(`Unknown action: ${pyStr(request.action)}`, rid);
    }
  }

  private createSession(req: JsonObject, rid: unknown, fault?: WriteFault): unknown {
    // A non-string or empty session_id is treated as absent (the agent does `... or str(uuid.uuid4())`).
    const sid = isNonEmptyText(req.session_id) ? req.session_id : randomUUID();
    const fields: Pick<Session, 'user_id' | 'metadata'> = { user_id: req.user_id ?? 'default', metadata: req.metadata ?? {} };
    divergentWrite(
      fault,
      fields,
      (f) => {
        // Re-creating an existing session keeps its history (INSERT OR REPLACE on the sessions row only).
        const session = { ...f, interactions: this.sessions.get(sid)?.interactions ?? [] };
        this.sessions.set(sid, session);
        this.onChange?.({ kind: 'session', sessionId: sid, session });
      },
      (f) => ({ ...f, user_id: alterValue(f.user_id) }),
    );
    return { status: 'success', session_id: sid, request_id: rid };
  }

  private addInteraction(req: JsonObject, rid: unknown, fault?: WriteFault): unknown {
    const { session_id: sid, role, content } = req;
    // Non-string role/content count as missing: the agent's token estimate needs text.
    // The agent checks `if not session_id or not role or not content`.
    if (!truthy(sid) || !isNonEmptyText(role) || !isNonEmptyText(content)) {
      return errorReply('Missing required parameters', rid);
    }
    const session = this.sessions.get(String(sid));
    if (!session) return { status: 'error', request_id: rid };
    const entry = { role, content, timestamp: nowIso(), metadata: req.metadata ?? {} };
    divergentWrite(
      fault,
      entry,
      (e) => {
        session.interactions.push(e);
        this.onChange?.({ kind: 'interaction', sessionId: String(sid), interaction: e });
      },
      (e) => ({ ...e, content: alterValue(e.content) as string }),
    );
    return { status: 'success', request_id: rid };
  }
}
