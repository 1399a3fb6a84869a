/** SessionMemoryAgent's own store (session_memory.db, SQLite: tables sessions and interactions) read as canonical records. */
import { rmSync } from 'node:fs';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sqlite from 'node-sqlite3-wasm';
import { pyLoads } from '../../util/pyjson.js';
import { compareKeys, type CanonicalRecord, type LegacyRecords } from '../records.js';

const { Database } = sqlite;
type Database = InstanceType<typeof Database>;

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
 * Sessions and their interactions, two ordered scans merged (cheaper than a join), folded into one record
 * per session. `range` bounds the session ids (inclusive).
 */
function* sessionRecords(db: Database, range?: [string, string]): Generator<CanonicalRecord> {
  const where = range ? 'WHERE session_id >= ? AND session_id <= ?' : '';
  const sessions = db.prepare(`SELECT session_id, user_id, metadata FROM sessions ${where} ORDER BY session_id`);
  const interactions = db.prepare(`SELECT session_id, role, content, metadata, timestamp FROM interactions ${where} ORDER BY session_id, id`);
  try {
    const rows = interactions.iterate(range);
    const nextRow = () => {
      const r = rows.next();
      return r.done ? undefined : r.value;
    };
    let pending = nextRow();
    for (const s of sessions.iterate(range)) {
      const key = String(s.session_id);
      const list: unknown[][] = [];
      // Interactions of sessions that no longer exist sort between real ones: skipped.
      while (pending && compareKeys(String(pending.session_id), key) < 0) pending = nextRow();
      while (pending && String(pending.session_id) === key) {
        list.push([pending.role ?? null, pending.content ?? null, parseJsonColumn(pending.metadata), pending.timestamp ?? null]);
        pending = nextRow();
      }
      yield { key, header: [s.user_id ?? null, parseJsonColumn(s.metadata)], lists: [list] };
    }
  } finally {
    sessions.finalize();
    interactions.finalize();
  }
}

/**
 * The agent's database read in place, page by page as SQLite reads it, not loaded whole into memory. A copy
 * is what is opened: the agent keeps writing the original (a snapshot as a file read would take), and SQLite's
 * locks here are lock directories next to the file, which a read-only mount of the agent's data would refuse.
 */
export async function openSessionStore(path: string): Promise<LegacyRecords> {
  const dir = await mkdtemp(join(tmpdir(), 'memshift-session-store-'));
  const copy = join(dir, SESSION_MEMORY_FILE);
  let db: Database;
  try {
    await copyFile(path, copy);
    db = new Database(copy, { fileMustExist: true, readOnly: true });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    all: () => sessionRecords(db),
    between: (first, last) => [...sessionRecords(db, [first, last])],
    close: () => {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
