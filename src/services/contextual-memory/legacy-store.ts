/** ContextualMemoryAgent's own store (contextual_memory_store.json) read as canonical records. */
import { readFile } from 'node:fs/promises';
import { pyLoads } from '../../util/pyjson.js';
import { isObject } from '../legacy-values.js';
import { keyedRecords, type CanonicalRecord, type LegacyRecords } from '../records.js';

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

export async function openContextualStore(path: string): Promise<LegacyRecords> {
  // As the agent reads it: numbers keep Python's int / float (3.0 stays a float).
  const data: unknown = pyLoads(await readFile(path));
  if (!isObject(data)) throw new Error(`${path}: not a JSON object`);
  const sessions = isObject(data.sessions) ? (data.sessions as ContextualFile['sessions']) : {};
  const summaries = isObject(data.summaries) ? (data.summaries as ContextualFile['summaries']) : {};
  return keyedRecords([...new Set([...Object.keys(sessions), ...Object.keys(summaries)])], (key): CanonicalRecord => {
    const newestFirst = Array.isArray(sessions[key]) ? sessions[key] : [];
    const summary = summaries[key];
    const decisions = isObject(summary) && Array.isArray(summary.key_decisions) ? summary.key_decisions : [];
    const interactions: unknown[][] = [];
    for (let i = newestFirst.length - 1; i >= 0; i--) {
      const x = newestFirst[i];
      if (isObject(x)) interactions.push([x.type ?? null, x.content ?? null, carriedMetadata(x.metadata), x.timestamp ?? null]);
    }
    // The snapshot as the agent stores it, its decisions aside (they are the second list).
    const snapshot = isObject(summary) ? Object.fromEntries(Object.entries(summary).filter(([k]) => k !== 'key_decisions')) : null;
    return { key, header: [snapshot], lists: [interactions, decisions.map((d) => (isObject(d) ? [d.decision ?? null, d.timestamp ?? null] : [null, null]))] };
  });
}
