/** SessionMemoryAgent's own store (session_memory.db, SQLite: tables sessions and interactions) read as canonical records. */
import { readFile } from 'node:fs/promises';
import { pyLoads } from '../../util/pyjson.js';
import { loadSqlJs, type SqlDatabase } from '../../util/sqlite.js';
import { compareKeys, type CanonicalRecord, type LegacyRecords } from '../records.js';

export const SESSION_MEMORY_FILE = 'session_memory.db';

/** A JSON column as the agent loads it; text that is not JSON stays text. */
function parseJsonColumn(v: unknown): unknown {
  if (typeof v !== 'string') return v ?? null;
  try {
    return pyLoads(v);
  } catch {
    return v;
  }
}

/**
 * Sessions and their interactions, two ordered scans merged (cheaper than a join in SQLite's WebAssembly
 * build), folded into one record per session. `range` bounds the session ids (inclusive).
 */
function* sessionRecords(db: SqlDatabase, range?: [string, string]): Generator<CanonicalRecord> {
  const where = range ? 'WHERE session_id >= ? AND session_id <= ?' : '';
  const sessions = db.prepare(`SELECT session_id, user_id, metadata FROM sessions ${where} ORDER BY session_id`);
  const interactions = db.prepare(`SELECT session_id, role, content, metadata, timestamp FROM interactions ${where} ORDER BY session_id, id`);
  try {
    if (range) {
      sessions.bind(range);
      interactions.bind(range);
    }
    let pending = interactions.step() ? interactions.get() : undefined;
    while (sessions.step()) {
      const [sid, user, meta] = sessions.get();
      const key = String(sid);
      const list: unknown[][] = [];
      // Interactions of sessions that no longer exist sort between real ones: skipped.
      while (pending && compareKeys(String(pending[0]), key) < 0) pending = interactions.step() ? interactions.get() : undefined;
      while (pending && String(pending[0]) === key) {
        list.push([pending[1] ?? null, pending[2] ?? null, parseJsonColumn(pending[3]), pending[4] ?? null]);
        pending = interactions.step() ? interactions.get() : undefined;
      }
      yield { key, header: [user ?? null, parseJsonColumn(meta)], lists: [list] };
    }
  } finally {
    sessions.free();
    interactions.free();
  }
}

export async function openSessionStore(path: string): Promise<LegacyRecords> {
  const SQL = await loadSqlJs();
  const db = new SQL.Database(await readFile(path));
  return {
    all: () => sessionRecords(db),
    between: (first, last) => [...sessionRecords(db, [first, last])],
    close: () => db.close(),
  };
}
