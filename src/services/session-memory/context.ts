/**
 * SessionMemoryAgent's context rules (PROTOCOLS.md 1.1) as the translator applies them, and how many more
 * interactions a context may take (what the orchestrator's next page asks for). The simulator keeps its own
 * (src/tools/sim/python.ts); test/golden checks both against the agent written in Python.
 */
export interface ContextEntry {
  role: string;
  content: string;
  timestamp: string;
}

/** The agent's token estimate: floor(len(content) / 4). Python's len counts code points, not UTF-16 units. */
function tokenCost(content: string): number {
  return Math.floor((SURROGATE.test(content) ? [...content].length : content.length) / 4);
}

/** Only a surrogate pair makes two UTF-16 units one code point. */
const SURROGATE = /[\uD800-\uDFFF]/;

/**
 * How many older entries than `oldestFirst` the context may still take: 0 when the budget stops short of the
 * oldest given (selectContext keeps them all exactly when their costs add up to no more than the budget); else
 * the budget left over the entries' mean cost (8 tokens each before any is known).
 */
export function contextShortfall(oldestFirst: ContextEntry[], maxTokens: number): number {
  const used = oldestFirst.reduce((sum, e) => sum + tokenCost(e.content), 0);
  if (used > maxTokens) return 0;
  return (maxTokens - used) / (oldestFirst.length ? Math.max(1, used / oldestFirst.length) : 8) + 1;
}

/** Newest to oldest while the budget holds (stopping at the first that would exceed it), returned oldest first. */
export function selectContext(oldestFirst: ContextEntry[], maxTokens: number): ContextEntry[] {
  const kept: ContextEntry[] = [];
  let used = 0;
  for (let i = oldestFirst.length - 1; i >= 0; i--) {
    const entry = oldestFirst[i]!;
    const cost = tokenCost(entry.content);
    if (used + cost > maxTokens) break;
    used += cost;
    kept.push(entry);
  }
  return kept.reverse();
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/**
 * Python's `datetime.isoformat()` of epoch microseconds in local time: no zone, and, like Python, no fraction
 * when the microseconds are zero.
 */
export function isoLocal(micros: number): string {
  const d = new Date(Math.floor(micros / 1000));
  const fraction = micros % 1_000_000;
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}` +
    `T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}` +
    (fraction ? `.${pad(fraction, 6)}` : '')
  );
}
