/**
 * SessionMemoryAgent's database read by the reconciler: the same records whether or not the agent's file has an
 * index on interactions(session_id), ranges and limits as asked, and the agent's own file left untouched.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sqlite from 'node-sqlite3-wasm';
import { afterAll, describe, expect, it } from 'vitest';
import { openSessionStore } from '../../src/services/session-memory/legacy-store.js';

const dir = mkdtempSync(join(tmpdir(), 'memshift-session-store-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The agent's two tables, with or without an index on interactions; sessions s00..s29, two interactions each (one session without any). */
function agentFile(name: string, indexed: boolean): string {
  const path = join(dir, name);
  const db = new sqlite.Database(path);
  db.exec(`CREATE TABLE sessions (session_id TEXT PRIMARY KEY, user_id TEXT, created_at TEXT, last_active TEXT, metadata TEXT);
    CREATE TABLE interactions (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT, timestamp TEXT, role TEXT, content TEXT, metadata TEXT);
    ${indexed ? 'CREATE INDEX idx_interactions_session ON interactions (session_id);' : ''}`);
  // Interactions written interleaved across sessions, as live traffic writes them.
  for (let round = 0; round < 2; round++) {
    for (let i = 29; i >= 0; i--) {
      const id = `s${String(i).padStart(2, '0')}`;
      if (round === 0) db.run('INSERT INTO sessions VALUES (?, ?, ?, ?, ?)', [id, `u${i % 3}`, 't', 't', `{"n": ${i}.0}`]);
      if (i !== 7)
        db.run('INSERT INTO interactions (session_id, timestamp, role, content, metadata) VALUES (?, ?, ?, ?, ?)', [
          id,
          `t${round}`,
          'user',
          `m${i}.${round}`,
          '{}',
        ]);
    }
  }
  db.close();
  return path;
}

describe('session-memory store, read in place', () => {
  it('gives the same records, ranges and limits with or without the agent having indexed interactions', async () => {
    const [plain, indexed] = [agentFile('plain.db', false), agentFile('indexed.db', true)];
    const before = readFileSync(plain);
    const stores = await Promise.all([openSessionStore(plain), openSessionStore(indexed)]);
    try {
      const [a, b] = [[...stores[0].all()], [...stores[1].all()]];
      expect(a).toEqual(b);
      expect(a.map((r) => r.key)).toEqual(Array.from({ length: 30 }, (_, i) => `s${String(i).padStart(2, '0')}`));
      expect(a[3]!.lists[0]!.map((e) => e[1])).toEqual(['m3.0', 'm3.1']);
      expect(a[7]!.lists[0]).toEqual([]);
      for (const s of stores) {
        expect(s.between({ from: 's05', to: 's09' }).map((r) => r.key)).toEqual(['s05', 's06', 's07', 's08']);
        expect(s.between({ from: 's05x' }, 3).map((r) => r.key)).toEqual(['s06', 's07', 's08']);
        expect(s.between({ to: 's02' })).toEqual(a.slice(0, 2));
      }
    } finally {
      for (const s of stores) s.close?.();
    }
    // Only the copy got an index: the agent's file is byte for byte as it was.
    expect(readFileSync(plain).equals(before)).toBe(true);
  });
});
