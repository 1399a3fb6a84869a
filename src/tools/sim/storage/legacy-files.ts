/**
 * The legacy simulators' stores in the real services' formats (legacy-formats.ts): loaded at start,
 * written behind every change. SessionMemoryAgent keeps SQLite (each change applied to an in-memory
 * database, the file exported debounced); the other two rewrite their JSON file.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dumps, loads, nowIso } from '../python.js';
import { asText, parseJson, SESSION_MEMORY_SCHEMA, type ContextualFile, type JarvisFile } from './legacy-formats.js';
import { loadSqlJs, type SqlDatabase } from '../../../util/sqlite.js';
import type { ContextualMemoryModel } from '../contextual-memory.js';
import type { JarvisMemoryModel } from '../jarvis-memory.js';
import type { SessionMemoryChange, SessionMemoryModel } from '../session-memory.js';
import { writeFileAtomic } from './files.js';
import { WriteBehind } from './write-behind.js';

export interface Persistence {
  flush(): Promise<void>;
}

type OnError = (err: unknown) => void;
type ContextualSession = ContextualMemoryModel['sessions'] extends Map<string, infer S> ? S : never;
type ContextualSave = ContextualFile<ContextualSession['newestFirst'][number], NonNullable<ContextualSession['summary']>>;
type JarvisSaved = JarvisMemoryModel['users'] extends Map<string, (infer M)[]> ? M : never;

export async function persistSessionMemory(model: SessionMemoryModel, path: string, delayMs: number, onError: OnError): Promise<Persistence> {
  const SQL = await loadSqlJs();
  const db = new SQL.Database(existsSync(path) ? await readFile(path) : undefined);
  db.exec(SESSION_MEMORY_SCHEMA);
  loadSessions(db, model);
  const writer = new WriteBehind(() => writeFileAtomic(path, db.export()), delayMs, onError);
  model.onChange = (change) => {
    try {
      applyChange(db, change);
      writer.schedule();
    } catch (err) {
      onError(err);
    }
  };
  return { flush: () => writer.flush() };
}

function loadSessions(db: SqlDatabase, model: SessionMemoryModel): void {
  for (const row of db.exec('SELECT session_id, user_id, metadata FROM sessions')[0]?.values ?? []) {
    model.sessions.set(String(row[0]), { user_id: row[1], metadata: parseJson(row[2]), interactions: [] });
  }
  for (const [sid, timestamp, role, content, metadata] of db.exec('SELECT session_id, timestamp, role, content, metadata FROM interactions ORDER BY id')[0]
    ?.values ?? []) {
    model.sessions.get(String(sid))?.interactions.push({
      role: String(role),
      content: String(content),
      timestamp: String(timestamp),
      metadata: parseJson(metadata),
    });
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

export async function persistContextual(model: ContextualMemoryModel, path: string, delayMs: number, onError: OnError): Promise<Persistence> {
  const data = await readJson<ContextualSave>(path);
  for (const [sid, newestFirst] of Object.entries(data?.sessions ?? {})) model.sessions.set(sid, { newestFirst });
  for (const [sid, summary] of Object.entries(data?.summaries ?? {})) {
    const session = model.sessions.get(sid);
    if (session) session.summary = summary;
    else model.sessions.set(sid, { newestFirst: [], summary });
  }
  const save = () => {
    const file: ContextualSave = { sessions: {}, summaries: {} };
    for (const [sid, s] of model.sessions) {
      file.sessions[sid] = s.newestFirst;
      if (s.summary) file.summaries[sid] = s.summary;
    }
    return writeFileAtomic(path, dumps(file));
  };
  const writer = new WriteBehind(save, delayMs, onError);
  model.onChange = () => writer.schedule();
  return { flush: () => writer.flush() };
}

export async function persistJarvis(model: JarvisMemoryModel, path: string, delayMs: number, onError: OnError): Promise<Persistence> {
  for (const [user, memories] of Object.entries((await readJson<JarvisFile<JarvisSaved>>(path)) ?? {})) model.users.set(user, memories);
  const writer = new WriteBehind(() => writeFileAtomic(path, dumps(Object.fromEntries(model.users))), delayMs, onError);
  model.onChange = () => writer.schedule();
  return { flush: () => writer.flush() };
}
