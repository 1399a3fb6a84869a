/**
 * The Memory Orchestrator's tables (PROTOCOLS.md section 2), as its simulator keeps them in PostgreSQL (the bench
 * fixtures load them too). The legacy-key indexes serve the reconciler's range scans (COLLATE "C": code point order).
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
