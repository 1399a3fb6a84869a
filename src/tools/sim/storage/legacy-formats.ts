/**
 * The legacy services' stores as the real agents keep them (PROTOCOLS.md section 1), for the simulators:
 * SessionMemoryAgent's SQLite schema and JSON columns, the two JSON files' shapes.
 */
import { dumps, loads } from '../python.js';
export const SESSION_MEMORY_SCHEMA = `
  CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY, user_id TEXT, created_at TEXT, last_active TEXT, metadata TEXT
  );
  CREATE TABLE IF NOT EXISTS interactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT, timestamp TEXT, role TEXT, content TEXT, metadata TEXT
  );
  CREATE INDEX IF NOT EXISTS idx_interactions_session ON interactions (session_id, id);`;

/** contextual_memory_store.json: interactions newest first (at most 50); each session's stored summary snapshot. */
export interface ContextualFile<Interaction, Summary> {
  sessions: Record<string, Interaction[]>;
  summaries: Record<string, Summary>;
}

/** jarvis_memory_store.json: user id -> memories oldest first. */
export type JarvisFile<Memory> = Record<string, Memory[]>;

/** A JSON column as the agent writes it (`json.dumps` of what it was given; text as it is). */
export const asText = (v: unknown): string => (typeof v === 'string' ? v : dumps(v ?? null));

/** A JSON column as the agent loads it; text that is not JSON stays text. */
export function parseJson(v: unknown): unknown {
  if (typeof v !== 'string') return v ?? null;
  try {
    return loads(v);
  } catch {
    return v;
  }
}
