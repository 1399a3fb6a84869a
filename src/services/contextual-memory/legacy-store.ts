/** ContextualMemoryAgent's own store (contextual_memory_store.json) read as canonical records. */
import { isObject } from '../legacy-values.js';
import { openJsonStore } from '../json-store.js';
import type { CanonicalRecord, LegacyRecords, LegacyStoreOptions } from '../records.js';

export const CONTEXTUAL_MEMORY_FILE = 'contextual_memory_store.json';

/** The file: interactions newest first; a session's recorded decisions live in its summary. */
export interface ContextualFile {
  sessions: Record<string, { type: string; content: string; timestamp?: number; metadata?: unknown }[]>;
  summaries: Record<string, { key_decisions?: { decision: string; timestamp: number }[] } & Record<string, unknown>>;
}

/** The interaction metadata the translator can carry: an object without the keys it writes itself. */
function carriedMetadata(m: unknown): Record<string, unknown> {
  if (!isObject(m)) return {};
  const { type: _t, timestamp: _ts, ...rest } = m;
  return rest;
}

/** One record per session, from its interactions and its summary (read as the agent reads them: numbers keep Python's int / float). */
export function openContextualStore(path: string, opts: LegacyStoreOptions = {}): Promise<LegacyRecords> {
  const record = (key: string, [session, summary]: unknown[]): CanonicalRecord => {
    const newestFirst = Array.isArray(session) ? (session as ContextualFile['sessions'][string]) : [];
    const decisions = isObject(summary) && Array.isArray(summary.key_decisions) ? summary.key_decisions : [];
    const interactions: unknown[][] = [];
    for (let i = newestFirst.length - 1; i >= 0; i--) {
      const x = newestFirst[i];
      if (isObject(x)) interactions.push([x.type ?? null, x.content ?? null, carriedMetadata(x.metadata), x.timestamp ?? null]);
    }
    // The snapshot as the agent stores it, its decisions aside (they are the second list).
    const snapshot = isObject(summary) ? Object.fromEntries(Object.entries(summary).filter(([k]) => k !== 'key_decisions')) : null;
    return { key, header: [snapshot], lists: [interactions, decisions.map((d) => (isObject(d) ? [d.decision ?? null, d.timestamp ?? null] : [null, null]))] };
  };
  return openJsonStore(path, [['sessions'], ['summaries']], record, opts);
}
