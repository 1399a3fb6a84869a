/**
 * The legacy services' storage formats, as the real services keep them: what the simulators write and
 * the source readers read.
 */
import type { ServiceName } from './catalog.js';

export const LEGACY_FILES: Record<ServiceName, string> = {
  'session-memory': 'session_memory.db',
  'contextual-memory': 'contextual_memory_store.json',
  'jarvis-memory': 'jarvis_memory_store.json',
};

/** SessionMemoryAgent's SQLite schema (metadata columns hold JSON text). */
export const SESSION_MEMORY_SCHEMA = `
  CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    user_id TEXT,
    created_at TEXT,
    last_active TEXT,
    metadata TEXT
  );
  CREATE TABLE IF NOT EXISTS interactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT,
    timestamp TEXT,
    role TEXT,
    content TEXT,
    metadata TEXT
  );
  CREATE INDEX IF NOT EXISTS idx_interactions_session ON interactions (session_id, id);`;

/** contextual_memory_store.json: interactions newest first; a session's recorded decisions live in its summary. */
export interface ContextualFile {
  sessions: Record<string, { type: string; content: string; timestamp?: number; metadata?: unknown }[]>;
  summaries: Record<string, { key_decisions?: { decision: string; timestamp: number }[] } & Record<string, unknown>>;
}

/** jarvis_memory_store.json: user id -> memories oldest first. */
export type JarvisFile = Record<string, { timestamp: number; memory: unknown }[]>;

/**
 * The Memory Orchestrator's tables (PROTOCOLS.md section 2), as its simulator keeps them in PostgreSQL.
 * The legacy-key indexes serve the reconciler's range scans (COLLATE "C": code point order on both sides).
 */
export const ORCHESTRATOR_TABLES = `
  CREATE TABLE IF NOT EXISTS sessions (
    session_id text PRIMARY KEY,
    user_id jsonb,
    session_type text NOT NULL DEFAULT 'conversation',
    metadata jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    ended_at timestamptz,
    is_archived boolean NOT NULL DEFAULT false,
    summary jsonb
  );
  CREATE TABLE IF NOT EXISTS memory_entries (
    memory_id text PRIMARY KEY,
    session_id text NOT NULL,
    memory_type text NOT NULL,
    content jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    priority integer NOT NULL DEFAULT 5,
    is_active boolean NOT NULL DEFAULT true,
    seq bigint NOT NULL
  );
  CREATE TABLE IF NOT EXISTS memory_tags (
    memory_id text NOT NULL,
    tag text NOT NULL,
    PRIMARY KEY (memory_id, tag)
  );`;

/** Separate from the tables so a bulk load can build them afterwards. */
export const ORCHESTRATOR_INDEXES = `
  CREATE INDEX IF NOT EXISTS memory_entries_session ON memory_entries (session_id, seq);
  CREATE INDEX IF NOT EXISTS sessions_legacy_session ON sessions (((metadata->>'legacy_session_id')) COLLATE "C");
  CREATE INDEX IF NOT EXISTS sessions_legacy_user ON sessions (((metadata->>'legacy_user_id')) COLLATE "C");`;

export const ORCHESTRATOR_SCHEMA = ORCHESTRATOR_TABLES + ORCHESTRATOR_INDEXES;

/** A JSON column as the simulator writes it: text as it is, anything else as its JSON. */
export const jsonColumnText = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v ?? null));

/** A JSON column as the agent loads it; text that is not JSON stays text. */
export function parseJsonColumn(v: unknown): unknown {
  if (typeof v !== 'string') return v ?? null;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}
