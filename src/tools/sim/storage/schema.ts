/**
 * The Memory Orchestrator's schema as its design documents give the DDL (PROTOCOLS.md section 2), used by the
 * simulator's PostgreSQL mode and the bench fixtures, so that memshift's reconciler reads the real columns.
 * Left out: `vector_embeddings` (it needs pgvector, which neither Debian nor the embedded PostgreSQL ships;
 * memshift never reads it). `user_profiles`, `agent_states`, `memory_relationships` and `memory_access_logs` carry
 * the columns the page names; memshift reads none of them either.
 */
export const ORCHESTRATOR_TABLES = `
  CREATE TABLE IF NOT EXISTS sessions (
    session_id VARCHAR(64) PRIMARY KEY,
    user_id VARCHAR(64),
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    ended_at TIMESTAMP,
    metadata JSONB DEFAULT '{}',
    summary TEXT,
    is_archived BOOLEAN DEFAULT FALSE,
    session_type VARCHAR(32) DEFAULT 'conversation'
  );
  CREATE TABLE IF NOT EXISTS memory_entries (
    memory_id VARCHAR(64) PRIMARY KEY,
    session_id VARCHAR(64) REFERENCES sessions(session_id) ON DELETE CASCADE,
    memory_type VARCHAR(32) NOT NULL,
    content JSONB NOT NULL,
    text_content TEXT GENERATED ALWAYS AS (content->>'text') STORED,
    source_agent VARCHAR(64),
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    expires_at TIMESTAMP,
    priority INTEGER DEFAULT 5,
    is_active BOOLEAN DEFAULT TRUE
  );
  CREATE TABLE IF NOT EXISTS memory_tags (
    tag_id SERIAL PRIMARY KEY,
    memory_id VARCHAR(64) REFERENCES memory_entries(memory_id) ON DELETE CASCADE,
    tag VARCHAR(64) NOT NULL
  );
  CREATE TABLE IF NOT EXISTS user_profiles (
    user_id VARCHAR(64) PRIMARY KEY,
    profile_data JSONB,
    preferences JSONB
  );
  CREATE TABLE IF NOT EXISTS agent_states (
    state_id SERIAL PRIMARY KEY,
    agent_id VARCHAR(64),
    session_id VARCHAR(64) REFERENCES sessions(session_id) ON DELETE SET NULL,
    state_data JSONB
  );
  CREATE TABLE IF NOT EXISTS memory_relationships (
    relationship_id SERIAL PRIMARY KEY,
    source_memory_id VARCHAR(64) REFERENCES memory_entries(memory_id) ON DELETE CASCADE,
    target_memory_id VARCHAR(64) REFERENCES memory_entries(memory_id) ON DELETE CASCADE
  );
  CREATE TABLE IF NOT EXISTS memory_access_logs (
    log_id SERIAL PRIMARY KEY,
    memory_id VARCHAR(64) REFERENCES memory_entries(memory_id) ON DELETE CASCADE,
    accessed_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
  );`;

/**
 * The orchestrator's indexes, then memshift's own (README, runbook step 2: the reconciler's range scans over legacy
 * keys in code point order, COLLATE "C", and its look for write tags): created after a bulk load, which is cheaper
 * than maintaining them row by row.
 */
export const ORCHESTRATOR_INDEXES = `
  CREATE INDEX IF NOT EXISTS idx_memory_entries_session_id ON memory_entries (session_id);
  CREATE INDEX IF NOT EXISTS idx_memory_entries_memory_type ON memory_entries (memory_type);
  CREATE INDEX IF NOT EXISTS idx_memory_entries_created_at ON memory_entries (created_at);
  CREATE INDEX IF NOT EXISTS idx_memory_entries_expires_at ON memory_entries (expires_at);
  CREATE INDEX IF NOT EXISTS idx_memory_entries_source_agent ON memory_entries (source_agent);
  CREATE INDEX IF NOT EXISTS idx_memory_entries_priority ON memory_entries (priority);
  CREATE INDEX IF NOT EXISTS idx_memory_entries_content ON memory_entries USING GIN (content);
  CREATE INDEX IF NOT EXISTS idx_memory_entries_text ON memory_entries USING GIN (to_tsvector('english', text_content));
  CREATE INDEX IF NOT EXISTS memshift_sessions_legacy_session ON sessions (((metadata->>'legacy_session_id')) COLLATE "C");
  CREATE INDEX IF NOT EXISTS memshift_sessions_legacy_user ON sessions (((metadata->>'legacy_user_id')) COLLATE "C");
  CREATE INDEX IF NOT EXISTS memshift_write_tags ON memory_tags (tag) WHERE tag LIKE 'memshift:w:%';`;

export const ORCHESTRATOR_SCHEMA = ORCHESTRATOR_TABLES + ORCHESTRATOR_INDEXES;
