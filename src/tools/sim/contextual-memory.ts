/**
 * In-memory ContextualMemoryAgent (PROTOCOLS.md 1.2, revised): interactions newest first, at most 50; a summary
 * snapshot recomputed over the 51 newest when a session passes 50, started by a first decision, and cut in place
 * by get_context. Written from the page alone (it shares nothing with memshift's translator). `as-deployed`
 * reproduces the service loop's crash on bare results.
 */
import { SIM_ERROR_REPLIES } from './services.js';
import { alterValue, divergentWrite, epochSeconds, isObject, noGetMessage, pyStr, type SimModel, type WriteFault, type JsonObject } from './model.js';
import { isFloat, numeric } from './python.js';

export type ContextualMode = 'faithful' | 'as-deployed';

interface Interaction {
  timestamp: number;
  type: string;
  content: string;
  metadata?: unknown;
}

interface Decision {
  timestamp: number;
  decision: string;
}

export interface Session {
  newestFirst: Interaction[];
  /** The stored summary snapshot; undefined until the session passes 50 interactions or records a decision. */
  summary?: JsonObject;
}

const HISTORY = 50;
const errorReply = SIM_ERROR_REPLIES['contextual-memory'];

/** Python's len(): code points. */
const pyLen = (s: string): number => [...s].length;
/** Python's s[:n] for any int n (a negative one counts from the end). */
const pyHead = (s: string, n: number): string => {
  const cps = [...s];
  return cps.slice(0, n < 0 ? Math.max(0, cps.length + n) : n).join('');
};

/** str.splitlines(): the line boundaries Python knows, no empty last line after a final break. */
function lineCount(s: string): number {
  const lines = s.split(/\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]/);
  if (lines.at(-1) === '') lines.pop();
  return lines.length;
}

function codeSummary(snippets: string[]): string {
  const joined = snippets.join('\n\n');
  const low = joined.toLowerCase();
  const sections = [
    ['database', '\nDatabase Operations:\n- SQL queries and database interactions present\n'],
    ['web|http', '\nWeb Functionality:\n- HTTP endpoints and web routes present\n'],
    ['concurrency|thread', '\nConcurrency Features:\n- Threading and async operations present\n'],
  ] as const;
  let text = `Code Summary:\nTotal snippets: ${snippets.length}\nTotal lines: ${lineCount(joined)}\n`;
  for (const [words, section] of sections) if (words.split('|').some((w) => low.includes(w))) text += section;
  const searched = `${joined}\n\n${text}`.toLowerCase();
  const domains = [
    [/database|sql|sqlite/, 'database operations'],
    [/web|http|flask|api|route/, 'web functionality'],
    [/concurrency|thread|async/, 'concurrency features'],
  ] as const;
  const found = domains.filter(([re]) => re.test(searched)).map(([, name]) => name);
  return text + (found.length ? `\nDETECTED DOMAINS: ${found.join(', ')}\n` : '\nNo specific domains detected\n');
}

function conversationSummary(queries: string[], responses: string[]): string {
  let text = `Conversation Summary:\nTotal queries: ${queries.length}\nTotal responses: ${responses.length}\n`;
  if (queries.length > 0)
    text +=
      '\nRecent Queries:\n' +
      queries
        .slice(0, 3)
        .map((q) => `- ${pyHead(q, 100)}...\n`)
        .join('');
  return text;
}

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
          { timestamp: epochSeconds(), decision },
          (d) => {
            const s = this.session(sid);
            s.summary ??= { key_decisions: [] };
            (s.summary.key_decisions as Decision[]).push(d);
            this.onChange?.();
          },
          (d) => ({ ...d, decision: alterValue(d.decision) as string }),
        );
        return true;
      }
      case 'get_context':
        return this.getContext(request);
      default:
        return errorReply(`Unknown action: ${pyStr(request.action ?? 'unknown')}`);
    }
  }

  private addInteraction(req: JsonObject, fault?: WriteFault): boolean {
    const { session_id: sid, type, content } = req;
    // See record_decision: text the summary cannot use is refused up front.
    if (typeof sid !== 'string' || typeof type !== 'string' || typeof content !== 'string') return false;
    const interaction: Interaction = { timestamp: epochSeconds(), type, content };
    if (req.metadata) interaction.metadata = req.metadata;
    divergentWrite(
      fault,
      interaction,
      (i) => {
        const s = this.session(sid);
        s.newestFirst.unshift(i);
        if (s.newestFirst.length > HISTORY) {
          s.summary = this.summarize(s.newestFirst, s.summary);
          s.newestFirst.length = HISTORY;
        }
        this.onChange?.();
      },
      (i) => ({ ...i, content: alterValue(i.content) as string }),
    );
    return true;
  }

  /** The recompute over every interaction held (51 of them), newest first; decisions carried over. */
  private summarize(newestFirst: Interaction[], previous: JsonObject | undefined): JsonObject {
    const texts = (t: string) => newestFirst.filter((i) => i.type === t).map((i) => i.content);
    const out: JsonObject = { last_updated: epochSeconds() };
    if (texts('code').length) out.code_context = codeSummary(texts('code'));
    if (texts('user_query').length || texts('system_response').length)
      out.conversation_summary = conversationSummary(texts('user_query'), texts('system_response'));
    out.errors_encountered = texts('error')
      .filter((e) => e.toLowerCase().includes('error') || e.toLowerCase().includes('exception'))
      .map((e) => pyHead(e, 200));
    out.key_decisions = previous?.key_decisions ?? [];
    return out;
  }

  /** The stored snapshot, its texts cut in place to (max_tokens // 2) * 4 code points; null where Python raises. */
  private getContext(request: JsonObject): unknown {
    const summary = typeof request.session_id === 'string' ? this.sessions.get(request.session_id)?.summary : undefined;
    if (!summary) return null;
    const budget = request.max_tokens ?? 2000;
    for (const key of ['code_context', 'conversation_summary']) {
      const text = summary[key];
      if (typeof text !== 'string') continue;
      // Python computes (max_tokens // 2) * 4 here: a string (or list, dict) budget raises; the agent answers None.
      const tokens = typeof budget === 'boolean' ? Number(budget) : numeric(budget);
      if (tokens === undefined) return null;
      const t = Math.floor(tokens / 2) * 4;
      if (pyLen(text) <= t) continue;
      // A float t cannot slice a str: TypeError, answered as None.
      if (isFloat(budget)) return null;
      summary[key] = `${pyHead(text, t)}...`;
      this.onChange?.();
    }
    return summary;
  }

  private session(sid: string): Session {
    let s = this.sessions.get(sid);
    if (!s) this.sessions.set(sid, (s = { newestFirst: [] }));
    return s;
  }
}
