/**
 * The legacy simulators' stores in the real services' formats (legacy-formats.ts): loaded at start and
 * written before each reply, as the agents do (SessionMemoryAgent commits every change to its SQLite file;
 * the other two rewrite their JSON file whole), so a write's cost and durability are the service's own.
 */
import { closeSync, existsSync, openSync, rmSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import sqlite from 'node-sqlite3-wasm';
import { dumps, loads, nowIso } from '../python.js';
import { asText, parseJson, SESSION_MEMORY_SCHEMA, type ContextualFile, type JarvisFile } from './legacy-formats.js';
import type { ContextualMemoryModel } from '../contextual-memory.js';
import type { JarvisMemoryModel } from '../jarvis-memory.js';
import type { SessionMemoryChange, SessionMemoryModel } from '../session-memory.js';

const { Database } = sqlite;
type SqlDatabase = InstanceType<typeof Database>;

/** A legacy store held open by its simulator. */
export interface LegacyPersistence {
  close(): void;
}

type OnError = (err: unknown) => void;
type ContextualSession = ContextualMemoryModel['sessions'] extends Map<string, infer S> ? S : never;
type ContextualSave = ContextualFile<ContextualSession['newestFirst'][number], NonNullable<ContextualSession['summary']>>;
type JarvisSaved = JarvisMemoryModel['users'] extends Map<string, (infer M)[]> ? M : never;

export function persistSessionMemory(model: SessionMemoryModel, path: string, onError: OnError): LegacyPersistence {
  // node-sqlite3-wasm locks a file with a directory beside it: one left by a killed simulator would lock it for good.
  rmSync(`${path}.lock`, { recursive: true, force: true });
  const db = new Database(path);
  db.exec(SESSION_MEMORY_SCHEMA);
  loadSessions(db, model);
  model.onChange = (change) => {
    try {
      inTransaction(db, () => applyChange(db, change));
    } catch (err) {
      onError(err);
    }
  };
  return { close: () => db.close() };
}

function loadSessions(db: SqlDatabase, model: SessionMemoryModel): void {
  for (const row of db.all('SELECT session_id, user_id, metadata FROM sessions')) {
    model.sessions.set(String(row.session_id), { user_id: row.user_id, metadata: parseJson(row.metadata), interactions: [] });
  }
  const interactions = db.prepare('SELECT session_id, timestamp, role, content, metadata FROM interactions ORDER BY id');
  try {
    for (const row of interactions.iterate()) {
      model.sessions.get(String(row.session_id))?.interactions.push({
        role: String(row.role),
        content: String(row.content),
        timestamp: String(row.timestamp),
        metadata: parseJson(row.metadata),
      });
    }
  } finally {
    interactions.finalize();
  }
}

/** One commit a change, as the agent's `conn.commit()` after each of its writes. */
function inTransaction(db: SqlDatabase, apply: () => void): void {
  db.exec('BEGIN');
  try {
    apply();
    db.exec('COMMIT');
  } catch (err) {
    db.exec('ROLLBACK');
    throw err;
  }
}

function applyChange(db: SqlDatabase, change: SessionMemoryChange): void {
  const sid = change.sessionId;
  const now = nowIso();
  switch (change.kind) {
    case 'session':
      db.run(
        `INSERT INTO sessions (session_id, user_id, created_at, last_active, metadata) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (session_id) DO UPDATE SET user_id = excluded.user_id, last_active = excluded.last_active, metadata = excluded.metadata`,
        [sid, asText(change.session.user_id), now, now, asText(change.session.metadata)],
      );
      return;
    case 'interaction': {
      const { timestamp, role, content, metadata } = change.interaction;
      db.run('INSERT INTO interactions (session_id, timestamp, role, content, metadata) VALUES (?, ?, ?, ?, ?)', [
        sid,
        timestamp,
        role,
        content,
        asText(metadata),
      ]);
      db.run('UPDATE sessions SET last_active = ? WHERE session_id = ?', [now, sid]);
      return;
    }
    case 'clear':
      db.run('DELETE FROM interactions WHERE session_id = ?', [sid]);
      return;
    case 'delete':
      db.run('DELETE FROM interactions WHERE session_id = ?', [sid]);
      db.run('DELETE FROM sessions WHERE session_id = ?', [sid]);
  }
}

async function readJson<T>(path: string): Promise<T | undefined> {
  return existsSync(path) ? (loads(await readFile(path, 'utf8')) as T) : undefined;
}

/**
 * The whole file rewritten in place before the reply, as the agents' `open(path, "w")` and `json.dump` do after every
 * change: truncated, then written in pieces of Python's 8 kB buffer, so a reader can meet it empty or cut short.
 */
function rewrite(path: string, text: string, onError: OnError): void {
  try {
    const bytes = Buffer.from(text);
    const fd = openSync(path, 'w');
    try {
      for (let at = 0; at < bytes.length; at += PY_BUFFER) writeSync(fd, bytes, at, Math.min(PY_BUFFER, bytes.length - at));
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    onError(err);
  }
}

const PY_BUFFER = 8192;

export async function persistContextual(model: ContextualMemoryModel, path: string, onError: OnError): Promise<LegacyPersistence> {
  const data = await readJson<ContextualSave>(path);
  for (const [sid, newestFirst] of Object.entries(data?.sessions ?? {})) model.sessions.set(sid, { newestFirst });
  for (const [sid, summary] of Object.entries(data?.summaries ?? {})) {
    const session = model.sessions.get(sid);
    if (session) session.summary = summary;
    else model.sessions.set(sid, { newestFirst: [], summary });
  }
  model.onChange = () => {
    const file: ContextualSave = { sessions: {}, summaries: {} };
    for (const [sid, s] of model.sessions) {
      file.sessions[sid] = s.newestFirst;
      if (s.summary) file.summaries[sid] = s.summary;
    }
    rewrite(path, dumps(file), onError);
  };
  return { close: () => {} };
}

export async function persistJarvis(model: JarvisMemoryModel, path: string, onError: OnError): Promise<LegacyPersistence> {
  for (const [user, memories] of Object.entries((await readJson<JarvisFile<JarvisSaved>>(path)) ?? {})) model.users.set(user, memories);
  model.onChange = () => rewrite(path, dumps(Object.fromEntries(model.users)), onError);
  return { close: () => {} };
}
