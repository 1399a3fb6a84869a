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

/** Per zone: its formatter (making one costs far more than using it) and the offset of the minute last asked. */
const ZONES = new Map<string, { format: Intl.DateTimeFormat; minute: number; offsetMs: number }>();
const MINUTE = 60_000;

/**
 * The zone's offset from UTC at `ms`. Offsets change on whole minutes, so one minute's holds for all of it:
 * formatToParts (about 15 µs) runs once a minute, not once a write.
 */
function offsetMs(ms: number, timeZone: string): number {
  let z = ZONES.get(timeZone);
  if (!z) {
    const format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
    });
    ZONES.set(timeZone, (z = { format, minute: NaN, offsetMs: 0 }));
  }
  const minute = Math.floor(ms / MINUTE);
  if (minute !== z.minute) {
    const p = Object.fromEntries(z.format.formatToParts(minute * MINUTE).map(({ type, value }) => [type, Number(value)]));
    z.minute = minute;
    z.offsetMs = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!) - minute * MINUTE;
  }
  return z.offsetMs;
}

/**
 * Python's `datetime.isoformat()` of epoch microseconds in local time: no zone, and, like Python, no fraction
 * when the microseconds are zero. Local to `timeZone` (IANA) when given, the legacy host's, which need not be
 * memshift's own; to this process's zone (TZ) otherwise.
 */
export function isoLocal(micros: number, timeZone?: string): string {
  const ms = Math.floor(micros / 1000);
  const fraction = micros % 1_000_000;
  const tail = fraction ? `.${pad(fraction, 6)}` : '';
  // The wall clock there, read with the UTC getters.
  const d = new Date(ms + (timeZone ? offsetMs(ms, timeZone) : -new Date(ms).getTimezoneOffset() * MINUTE));
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${tail}`;
}
