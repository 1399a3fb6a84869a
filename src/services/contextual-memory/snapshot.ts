/**
 * ContextualMemoryAgent's stored summary snapshot (PROTOCOLS.md 1.2, revised): recomputed over the 51 newest
 * interactions when a session passes 50, `{"key_decisions": []}` started by a first decision, and cut in place
 * by each get_context. Pure functions over the snapshot; the translator stores it on the orchestrator.
 */
import { summarizeCode, summarizeConversation } from './summary.js';
import { isObject } from '../legacy-values.js';

/** The agent's max_session_history: a session past it gets its summary recomputed on every add. */
export const MAX_SESSION_HISTORY = 50;
const DEFAULT_MAX_TOKENS = 2000;
const CUT_KEYS = ['code_context', 'conversation_summary'] as const;

export type Snapshot = Record<string, unknown>;

/** The summary over the 51 newest interactions (newest first), the previous snapshot's decisions kept. */
export function recompute(newestFirst: { type: string; content: string }[], previous: Snapshot | undefined, now: unknown): Snapshot {
  const ofType = (t: string) => newestFirst.filter((i) => i.type === t).map((i) => i.content);
  const snapshot: Snapshot = { last_updated: now };
  const code = ofType('code');
  if (code.length) snapshot.code_context = summarizeCode(code);
  const queries = ofType('user_query');
  const responses = ofType('system_response');
  if (queries.length || responses.length) snapshot.conversation_summary = summarizeConversation(queries, responses);
  snapshot.errors_encountered = ofType('error')
    .filter((e) => /error|exception/.test(e.toLowerCase()))
    .map((e) => Array.from(e).slice(0, 200).join(''));
  snapshot.key_decisions = Array.isArray(previous?.key_decisions) ? previous.key_decisions : [];
  return snapshot;
}

/** record_decision: a session without a snapshot gets `{"key_decisions": []}`, then the decision is appended. */
export function withDecision(previous: Snapshot | undefined, decision: string, timestamp: unknown): Snapshot {
  return { ...(previous ?? {}), key_decisions: [...decisionsOf(previous), { timestamp, decision }] };
}

/** Whether the snapshot was recomputed by the write made at `timestamp`, or by a later one. */
export function recomputedSince(snapshot: Snapshot | undefined, timestamp: unknown): boolean {
  const [updated, at] = [numeric(snapshot?.last_updated), numeric(timestamp)];
  return updated !== undefined && at !== undefined && updated >= at;
}

/** Whether the snapshot holds this decision made at this time. */
export function hasDecision(snapshot: Snapshot | undefined, decision: string, timestamp: unknown): boolean {
  const at = numeric(timestamp);
  return decisionsOf(snapshot).some((d) => isObject(d) && d.decision === decision && numeric(d.timestamp) === at);
}

/**
 * A decision put where its time goes among those the snapshot holds: one whose snapshot update was lost after its
 * memory was stored, finished later, when later decisions may be there already.
 */
export function withDecisionAt(previous: Snapshot | undefined, decision: string, timestamp: unknown): Snapshot {
  const decisions = decisionsOf(previous);
  const at = numeric(timestamp) ?? Number.POSITIVE_INFINITY;
  const later = decisions.findIndex((d) => isObject(d) && (numeric(d.timestamp) ?? Number.NEGATIVE_INFINITY) > at);
  const i = later < 0 ? decisions.length : later;
  return { ...(previous ?? {}), key_decisions: [...decisions.slice(0, i), { timestamp, decision }, ...decisions.slice(i)] };
}

const decisionsOf = (snapshot: Snapshot | undefined): unknown[] => (Array.isArray(snapshot?.key_decisions) ? snapshot.key_decisions : []);

/**
 * get_context over a stored snapshot: with t = (max_tokens // 2) * 4, each of the two texts longer than t is
 * replaced by text[:t] + "..." in the STORED snapshot. Python's rules for odd budgets: absent or null is 2000,
 * true is 1; a float fails where a cut is needed, a string wherever a text is present (the agent answers null
 * and changes nothing). Answers the reply and the snapshot to store when it changed.
 */
export function read(snapshot: Snapshot, maxTokens: unknown): { reply: Snapshot | null; changed?: Snapshot } {
  const budget = maxTokens === undefined || maxTokens === null ? DEFAULT_MAX_TOKENS : maxTokens;
  let next: Snapshot | undefined;
  for (const key of CUT_KEYS) {
    const text = snapshot[key];
    if (typeof text !== 'string') continue;
    const t = cutAt(budget);
    if (t === 'fails') return { reply: null };
    const length = Array.from(text).length;
    if (length <= t.value) continue;
    if (!t.integral) return { reply: null };
    next ??= { ...snapshot };
    next[key] = `${pySlice(text, t.value)}...`;
  }
  return next ? { reply: next, changed: next } : { reply: snapshot };
}

/** (max_tokens // 2) * 4 as Python computes it, or 'fails' where Python raises (a string, a list). */
function cutAt(budget: unknown): { value: number; integral: boolean } | 'fails' {
  const n = typeof budget === 'boolean' ? Number(budget) : numeric(budget);
  if (n === undefined) return 'fails';
  return { value: Math.floor(n / 2) * 4, integral: typeof budget === 'boolean' || isIntegral(budget) };
}

const numeric = (v: unknown): number | undefined =>
  typeof v === 'number'
    ? v
    : typeof v === 'object' && v !== null && 'value' in v && typeof (v as { value: unknown }).value === 'string'
      ? Number((v as { value: string }).value)
      : undefined;

/** A Python int: a JSON number written without a fraction or an exponent. */
function isIntegral(v: unknown): boolean {
  if (typeof v === 'number') return Number.isInteger(v);
  const text = (v as { value: string }).value;
  return /^-?\d+$/.test(text);
}

/** text[:t] on code points, a negative t counting from the end, as Python slices. */
function pySlice(text: string, t: number): string {
  const points = Array.from(text);
  return points.slice(0, t < 0 ? Math.max(0, points.length + t) : t).join('');
}
