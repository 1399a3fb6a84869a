/**
 * ContextualMemoryAgent's rolling summary (PROTOCOLS.md 1.2), shared by its simulator and its translator:
 * both must produce the same text to the character. Follows the Python agent's _summarize_code,
 * _summarize_conversation, _extract_key_errors and _compress_text; Python slices and len() count code
 * points, hence the Array.from below.
 */
export interface ContextualInteraction {
  type: string;
  content: string;
  metadata?: unknown;
  timestamp?: number;
}

export interface Decision {
  decision: string;
  timestamp: number;
}

const MAX_SESSION_HISTORY = 50;

const chars = (s: string): string[] => Array.from(s);
const head = (s: string, n: number): string => chars(s).slice(0, n).join('');

/** Python's len(s.splitlines()): every Unicode line boundary, no empty line after a trailing break. */
function pyLineCount(s: string): number {
  if (s === '') return 0;
  const breaks = s.match(/\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]/g)?.length ?? 0;
  return /(?:\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029])$/.test(s) ? breaks : breaks + 1;
}

function summarizeCode(snippets: string[]): string {
  const allCode = snippets.join('\n\n');
  const lower = allCode.toLowerCase();
  let summary = `Code Summary:\nTotal snippets: ${snippets.length}\nTotal lines: ${pyLineCount(allCode)}\n`;
  if (lower.includes('database')) summary += '\nDatabase Operations:\n- SQL queries and database interactions present\n';
  if (lower.includes('web') || lower.includes('http')) summary += '\nWeb Functionality:\n- HTTP endpoints and web routes present\n';
  if (lower.includes('concurrency') || lower.includes('thread')) summary += '\nConcurrency Features:\n- Threading and async operations present\n';
  // The agent searches the code and its own summary text together.
  const combined = `${allCode}\n\n${summary}`.toLowerCase();
  const domains: string[] = [];
  if (/database|sql|sqlite/.test(combined)) domains.push('database operations');
  if (/web|http|flask|api|route/.test(combined)) domains.push('web functionality');
  if (/concurrency|thread|async/.test(combined)) domains.push('concurrency features');
  return summary + (domains.length ? `\nDETECTED DOMAINS: ${domains.join(', ')}\n` : '\nNo specific domains detected\n');
}

function summarizeConversation(queries: string[], responses: string[]): string {
  let summary = `Conversation Summary:\nTotal queries: ${queries.length}\nTotal responses: ${responses.length}\n`;
  if (queries.length) {
    summary += '\nRecent Queries:\n';
    for (const q of queries.slice(0, 3)) summary += `- ${head(q, 100)}...\n`;
  }
  return summary;
}

/** _compress_text: a section longer than the budget's characters is cut and marked with "...". */
function compress(text: string, targetTokens: number): string {
  const limit = targetTokens * 4;
  return chars(text).length > limit ? `${head(text, limit)}...` : text;
}

/** The summary object get_context answers, or null when the session has no interactions and no decisions. */
export function buildSummary(newestFirst: ContextualInteraction[], decisions: Decision[], maxTokens: number, now: number): Record<string, unknown> | null {
  if (newestFirst.length === 0 && decisions.length === 0) return null;
  // The agent keeps only its 50 newest interactions per session (max_session_history).
  newestFirst = newestFirst.slice(0, MAX_SESSION_HISTORY);
  const ofType = (t: string) => newestFirst.filter((i) => i.type === t).map((i) => i.content);
  const budget = Math.floor(maxTokens / 2);
  const summary: Record<string, unknown> = { last_updated: now };
  const code = ofType('code');
  if (code.length) summary.code_context = compress(summarizeCode(code), budget);
  const queries = ofType('user_query');
  const responses = ofType('system_response');
  if (queries.length || responses.length) summary.conversation_summary = compress(summarizeConversation(queries, responses), budget);
  summary.errors_encountered = ofType('error')
    .filter((e) => /error|exception/.test(e.toLowerCase()))
    .map((e) => head(e, 200));
  // The agent records {"timestamp", "decision"} in that key order; replies must keep it byte for byte.
  summary.key_decisions = decisions.map((d) => ({ timestamp: d.timestamp, decision: d.decision }));
  return summary;
}
