/**
 * Readers of the legacy services' own stores (formats.ts): each file is read once into a LegacyIndex of
 * canonical records in key order.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServiceName } from '../services/catalog.js';
import { compareKeys, isEmptyRecord, type CanonicalRecord } from './canonical.js';
import { LEGACY_FILES, type ContextualFile, type JarvisFile } from '../services/formats.js';
import { LegacyIndex } from './source.js';
import { loadSqlJs, type SqlDatabase } from '../util/sqlite.js';
import { isObject } from '../services/legacy-values.js';
import { parseJsonColumn } from '../services/formats.js';

/** The contextual interaction metadata the translator can carry: an object without the keys it writes itself. */
function contextualMetadata(m: unknown): Record<string, unknown> {
  if (!isObject(m)) return {};
  const { type: _t, timestamp: _ts, ...rest } = m;
  return rest;
}

export function legacyPath(service: ServiceName, dataDir: string): string {
  return join(dataDir, LEGACY_FILES[service]);
}

export async function openLegacySource(service: ServiceName, path: string): Promise<LegacyIndex> {
  if (service === 'session-memory') return readSessionMemory(path);
  const data: unknown = JSON.parse(await readFile(path, 'utf8'));
  if (!isObject(data)) throw new Error(`${path}: not a JSON object`);
  return service === 'jarvis-memory' ? fromObject(jarvisRecords(data as JarvisFile)) : fromObject(contextualRecords(data as unknown as ContextualFile));
}

/** A JSON store: keys sorted, empty records dropped (those services keep keys only through their writes). */
async function fromObject(build: { keys: string[]; record: (key: string) => CanonicalRecord }): Promise<LegacyIndex> {
  const sorted = build.keys.sort(compareKeys);
  const kept = (function* () {
    for (const key of sorted) {
      const r = build.record(key);
      if (!isEmptyRecord(r)) yield r;
    }
  })();
  const index: LegacyIndex = await LegacyIndex.build(kept, (i, j) => index.keys.slice(i, j).map(build.record));
  return index;
}

function jarvisRecords(data: JarvisFile) {
  return {
    keys: Object.keys(data),
    record: (key: string): CanonicalRecord => {
      const list = Array.isArray(data[key]) ? data[key] : [];
      return { key, header: [], lists: [list.map((e) => [isObject(e) ? (e.memory ?? null) : null])] };
    },
  };
}

function contextualRecords(data: ContextualFile) {
  const sessions = isObject(data.sessions) ? data.sessions : {};
  const summaries = isObject(data.summaries) ? data.summaries : {};
  return {
    keys: [...new Set([...Object.keys(sessions), ...Object.keys(summaries)])],
    record: (key: string): CanonicalRecord => {
      const newestFirst = Array.isArray(sessions[key]) ? sessions[key] : [];
      const summary = summaries[key];
      const decisions = isObject(summary) && Array.isArray(summary.key_decisions) ? summary.key_decisions : [];
      const interactions: unknown[][] = [];
      for (let i = newestFirst.length - 1; i >= 0; i--) {
        const x = newestFirst[i];
        if (isObject(x)) interactions.push([x.type ?? null, x.content ?? null, contextualMetadata(x.metadata)]);
      }
      return { key, header: [], lists: [interactions, decisions.map((d) => [isObject(d) ? (d.decision ?? null) : null])] };
    },
  };
}

/**
 * Sessions and their interactions, two ordered scans merged (cheaper than a join in SQLite's WebAssembly
 * build), folded into one record per session. `range` bounds the session ids (inclusive).
 */
function* sessionRecords(db: SqlDatabase, range?: [string, string]): Generator<CanonicalRecord> {
  const where = range ? 'WHERE session_id >= ? AND session_id <= ?' : '';
  const sessions = db.prepare(`SELECT session_id, user_id, metadata FROM sessions ${where} ORDER BY session_id`);
  const interactions = db.prepare(`SELECT session_id, role, content, metadata FROM interactions ${where} ORDER BY session_id, id`);
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
        list.push([pending[1] ?? null, pending[2] ?? null, parseJsonColumn(pending[3])]);
        pending = interactions.step() ? interactions.get() : undefined;
      }
      yield { key, header: [user ?? null, parseJsonColumn(meta)], lists: [list] };
    }
  } finally {
    sessions.free();
    interactions.free();
  }
}

async function readSessionMemory(path: string): Promise<LegacyIndex> {
  const SQL = await loadSqlJs();
  const db = new SQL.Database(await readFile(path));
  try {
    const index: LegacyIndex = await LegacyIndex.build(
      sessionRecords(db),
      (i, j) => [...sessionRecords(db, [index.keys[i]!, index.keys[j - 1]!])],
      () => db.close(),
    );
    return index;
  } catch (err) {
    db.close();
    throw err;
  }
}
