/**
 * The orchestrator simulator's state in PostgreSQL, in the orchestrator's own schema (schema.ts: sessions,
 * memory_entries with JSONB content and no sequence column, memory_tags): loaded at start, changed rows upserted
 * behind the replies in batches, so requests stay at in-memory speed.
 */
import pg from 'pg';
import { ORCHESTRATOR_SCHEMA } from './schema.js';
import { dumps, loads } from '../python.js';
import type { OrchestratorModel, StoredSession } from '../orchestrator.js';
import type { StoredMemory } from '../orchestrator-query.js';
import { WriteBehind } from './write-behind.js';
import { inTransaction } from '../../../store/client.js';

const CHUNK = 5_000;
const json = (v: unknown): string => dumps(v ?? null);
/** A VARCHAR or TEXT column of a value that may not be text: text as it is, anything else as its JSON. */
const text = (v: unknown): string | null => (v === null || v === undefined ? null : typeof v === 'string' ? v : dumps(v));
/** TIMESTAMP (no zone) read back as the simulator's ISO text, in UTC as it was written. */
const TS = (column: string) => `CASE WHEN ${column} IS NULL THEN NULL ELSE to_char(${column}, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') END`;

export interface PgPersistence {
  /** Writes every pending change now. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export async function persistOrchestrator(model: OrchestratorModel, url: string, delayMs: number, onError: (err: unknown) => void): Promise<PgPersistence> {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  /**
   * Memories that may have rows in the database (loaded, or in an upsert that was sent, whatever its outcome): only
   * theirs have tags to replace. The schema has no index on memory_tags.memory_id, so each DELETE reads the whole
   * table (a 50,000-record backfill sent 1,062 of them, for new memories only, none with a row to delete).
   */
  const inDatabase = new Set<string>();
  pool.on('error', onError);
  try {
    await pool.query(ORCHESTRATOR_SCHEMA);
    for (const id of await load(pool, model)) inDatabase.add(id);
  } catch (err) {
    await pool.end();
    throw err;
  }
  const sessions = new Map<string, StoredSession>();
  const memories = new Map<string, StoredMemory>();
  const save = async () => {
    const s = [...sessions.values()];
    const m = [...memories.values()];
    sessions.clear();
    memories.clear();
    try {
      for (let i = 0; i < s.length; i += CHUNK) await upsertSessions(pool, s.slice(i, i + CHUNK));
      for (let i = 0; i < m.length; i += CHUNK) await upsertMemories(pool, m.slice(i, i + CHUNK), inDatabase);
    } catch (err) {
      // Kept for the next save, unless a newer change of the same row is already waiting.
      for (const x of s) if (!sessions.has(x.session_id)) sessions.set(x.session_id, x);
      for (const x of m) if (!memories.has(x.memory_id)) memories.set(x.memory_id, x);
      writer.schedule();
      throw err;
    }
  };
  const writer = new WriteBehind(save, delayMs, onError);
  model.onChange = (change) => {
    for (const x of change.sessions ?? []) sessions.set(x.session_id, x);
    for (const x of change.memories ?? []) memories.set(x.memory_id, x);
    writer.schedule();
  };
  return {
    flush: () => writer.flush(),
    async close() {
      await writer.flush();
      model.onChange = undefined;
      await pool.end();
    },
  };
}

/** Loads the database into the model; returns the memory ids it holds. */
async function load(pool: pg.Pool, model: OrchestratorModel): Promise<string[]> {
  const sessions = await pool.query(`SELECT s.*, ${TS('s.created_at')} AS created, ${TS('s.ended_at')} AS ended FROM sessions s`);
  // No sequence column: memories come back in creation order, ties by id.
  const memories = await pool.query(
    `SELECT m.*, m.content::text AS content_text, ${TS('m.created_at')} AS created, ${TS('m.updated_at')} AS updated, ${TS('m.expires_at')} AS expires,
            coalesce((SELECT array_agg(t.tag ORDER BY t.tag_id) FROM memory_tags t WHERE t.memory_id = m.memory_id), '{}') AS tags
     FROM memory_entries m ORDER BY m.created_at, m.memory_id`,
  );
  model.load(
    sessions.rows.map((r) => ({
      session_id: r.session_id,
      user_id: r.user_id,
      session_type: r.session_type,
      metadata: r.metadata,
      created_at: r.created,
      ended_at: r.ended,
      is_archived: r.is_archived,
      summary: r.summary,
    })),
    // The simulator keeps insertion order in `seq`; the orchestrator's schema has none, so it is the load order.
    memories.rows.map((r, i) => ({
      seq: i + 1,
      memory_id: r.memory_id,
      session_id: r.session_id,
      memory_type: r.memory_type,
      content: loads(r.content_text) as StoredMemory['content'],
      tags: r.tags,
      created_at: r.created,
      updated_at: r.updated,
      expires_at: r.expires,
      priority: r.priority,
      is_active: r.is_active,
    })),
  );
  return memories.rows.map((r) => r.memory_id as string);
}

async function upsertSessions(pool: pg.Pool, rows: StoredSession[]): Promise<void> {
  await pool.query(
    `INSERT INTO sessions (session_id, user_id, session_type, metadata, created_at, ended_at, is_archived, summary)
     SELECT id, u, t, md::jsonb, c AT TIME ZONE 'UTC', e AT TIME ZONE 'UTC', a, su
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[], $7::boolean[], $8::text[])
       AS x(id, u, t, md, c, e, a, su)
     ON CONFLICT (session_id) DO UPDATE SET user_id = excluded.user_id, session_type = excluded.session_type,
       metadata = excluded.metadata, ended_at = excluded.ended_at, is_archived = excluded.is_archived, summary = excluded.summary`,
    [
      rows.map((r) => r.session_id),
      rows.map((r) => text(r.user_id)),
      rows.map((r) => r.session_type),
      rows.map((r) => json(r.metadata)),
      rows.map((r) => r.created_at),
      rows.map((r) => r.ended_at),
      rows.map((r) => r.is_archived),
      rows.map((r) => text(r.summary)),
    ],
  );
}

async function upsertMemories(pool: pg.Pool, rows: StoredMemory[], inDatabase: Set<string>): Promise<void> {
  const ids = rows.map((r) => r.memory_id);
  const replaced = ids.filter((id) => inDatabase.has(id));
  // Before the attempt: one that times out may still commit, and the next must then replace these rows' tags.
  for (const id of ids) inDatabase.add(id);
  await inTransaction(pool, async (client) => {
    await client.query(
      `INSERT INTO memory_entries (memory_id, session_id, memory_type, content, source_agent, created_at, updated_at, expires_at, priority, is_active)
       SELECT id, s, t, c::jsonb, c::jsonb->>'source_agent', ca AT TIME ZONE 'UTC', ua AT TIME ZONE 'UTC', ea AT TIME ZONE 'UTC', p, a
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[], $7::timestamptz[], $8::int[], $9::boolean[])
         AS x(id, s, t, c, ca, ua, ea, p, a)
       ON CONFLICT (memory_id) DO UPDATE SET content = excluded.content, source_agent = excluded.source_agent, updated_at = excluded.updated_at,
         expires_at = excluded.expires_at, priority = excluded.priority, is_active = excluded.is_active`,
      [
        rows.map((r) => r.memory_id),
        rows.map((r) => r.session_id),
        rows.map((r) => r.memory_type),
        rows.map((r) => json(r.content)),
        rows.map((r) => r.created_at),
        rows.map((r) => r.updated_at),
        rows.map((r) => r.expires_at),
        rows.map((r) => r.priority),
        rows.map((r) => r.is_active),
      ],
    );
    if (replaced.length) await client.query('DELETE FROM memory_tags WHERE memory_id = ANY($1::text[])', [replaced]);
    const tagged = rows.flatMap((r) => [...new Set(r.tags)].map((tag) => [r.memory_id, tag] as const));
    await client.query('INSERT INTO memory_tags (memory_id, tag) SELECT * FROM unnest($1::text[], $2::text[])', [
      tagged.map((t) => t[0]),
      tagged.map((t) => t[1]),
    ]);
  });
}
