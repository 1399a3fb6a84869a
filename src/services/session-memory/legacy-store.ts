/** SessionMemoryAgent's own store (session_memory.db, SQLite: tables sessions and interactions) read as canonical records. */
import { rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import sqlite from 'node-sqlite3-wasm';
import { pyLoads } from '../../util/pyjson.js';
import { compareKeys, type CanonicalRecord, type KeyBounds, type LegacyRecords } from '../records.js';
import { rangeWhere } from '../sqlite-range.js';
import { readSnapshot } from '../file-snapshot.js';
import { scratchDir } from '../../util/scratch.js';

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
 * per session. `range` bounds the session ids ([from, to)); `limit` the sessions.
 */
function* sessionRecords(db: Database, range: KeyBounds = {}, limit?: number): Generator<CanonicalRecord> {
  const { where, values } = rangeWhere('session_id', range);
  const sessions = db.prepare(`SELECT session_id, user_id, metadata FROM sessions ${where} ORDER BY session_id ${limit === undefined ? '' : 'LIMIT ?'}`);
  // Read as far as the sessions go: the scan is lazy, so a limited read stops early here too.
  const interactions = db.prepare(`SELECT session_id, role, content, metadata, timestamp FROM interactions ${where} ORDER BY session_id, id`);
  try {
    const rows = interactions.iterate(values);
    const sessionRows = sessions.iterate(limit === undefined ? values : [...values, limit]);
    const nextRow = () => {
      const r = rows.next();
      return r.done ? undefined : r.value;
    };
    let pending = nextRow();
    for (const s of sessionRows) {
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

/** Whether an index serves "interactions of a session range, in order" (an index on session_id ends with the rowid, id). */
function hasSessionIndex(db: Database): boolean {
  return db.all(`SELECT name FROM pragma_index_list('interactions')`).some(({ name }) => {
    const columns = db.all(`SELECT name FROM pragma_index_info(?) ORDER BY seqno`, [String(name)]).map((c) => c.name);
    return columns[0] === 'session_id' && (columns.length === 1 || columns[1] === 'id');
  });
}

/**
 * The agent's database read in place, page by page as SQLite reads it, not loaded whole into memory. A copy
 * is what is opened: the agent keeps writing the original (a copy made between its commits), and SQLite's
 * locks here are lock directories next to the file, which a read-only mount of the agent's data would refuse.
 * The copy is ours, so it gets the index a range read needs if the agent's file lacks one.
 */
export async function openSessionStore(path: string): Promise<LegacyRecords> {
  const dir = await scratchDir('memshift-session-store');
  const copy = join(dir, SESSION_MEMORY_FILE);
  let db: Database;
  try {
    // Copied while no commit is under way (none changes the file without its journal beside it: file-snapshot.ts).
    db = await readSnapshot(
      path,
      copy,
      async (file) => {
        const opened = new Database(file, { fileMustExist: true });
        try {
          // The copy is ours alone: one lock for its life (this SQLite's locks are directories made and removed per statement otherwise).
          opened.exec('PRAGMA locking_mode = EXCLUSIVE');
          // Ranges of sessions are read again during a run (a checksum's edges): without this index each would sort the table.
          if (!hasSessionIndex(opened)) opened.exec('CREATE INDEX memshift_interactions_session ON interactions (session_id, id)');
          return opened;
        } catch (err) {
          opened.close();
          throw err;
        }
      },
      { busyBeside: [`${path}-journal`, `${path}-wal`] },
    );
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    all: () => sessionRecords(db),
    between: (range, limit) => [...sessionRecords(db, range, limit)],
    close: () => {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
