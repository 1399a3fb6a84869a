/**
 * The texts of ContextualMemoryAgent's summary (PROTOCOLS.md 1.2): the code summary with its domains and the
 * conversation summary, as the Python agent's _summarize_code and _summarize_conversation write them. Python
 * slices and len() count code points, hence the Array.from below.
 */
const chars = (s: string): string[] => Array.from(s);
const head = (s: string, n: number): string => chars(s).slice(0, n).join('');

/** Python's len(s.splitlines()): every Unicode line boundary, no empty line after a trailing break. */
function pyLineCount(s: string): number {
  if (s === '') return 0;
  const breaks = s.match(/\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]/g)?.length ?? 0;
  return /(?:\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029])$/.test(s) ? breaks : breaks + 1;
}

export function summarizeCode(snippets: string[]): string {
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

export function summarizeConversation(queries: string[], responses: string[]): string {
  let summary = `Conversation Summary:\nTotal queries: ${queries.length}\nTotal responses: ${responses.length}\n`;
  if (queries.length) {
    summary += '\nRecent Queries:\n';
    for (const q of queries.slice(0, 3)) summary += `- ${head(q, 100)}...\n`;
  }
  return summary;
}
