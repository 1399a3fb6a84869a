/**
 * The legacy stores read while their agent rewrites them. JarvisMemoryAgent and ContextualMemoryAgent save with
 * `open(path, "w")` and `json.dump` after every change: the file is truncated, then written in buffered pieces, so a
 * reader can meet it empty or cut short; SessionMemoryAgent's SQLite commits change the database file's pages in place.
 * Here Debian's python3 writes a store that way, each state giving every key the same number of elements, while the
 * reconciler's reader opens it again and again: every read must succeed and show one whole state.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, expect, it } from 'vitest';
import { openLegacySource } from '../../src/reconcile/legacy.js';

const USERS = 300;

/** Rewrites the store as the agent's save_memory does, state after state (a busy agent: a write every 20 ms), until killed. */
const WRITER = `
import json, sys, time
path = sys.argv[1]
n = 0
while True:
    n += 1
    memory = {f"u{u:03d}": [{"timestamp": 1700000000.5 + k, "memory": f"m{n}/{k}"} for k in range(n % 5 + 1)] for u in range(${USERS})}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(memory, f, ensure_ascii=False, indent=2)
    time.sleep(0.02)
`;

/**
 * Commits as SessionMemoryAgent does (sqlite3, its tables): each transaction gives every session its interactions anew,
 * up to 3 MB of pages, 10 a second (the agent commits an interaction at a time, a few pages). The reader copies the file
 * between two commits; with 20 ms between them, on a loaded host no copy fit in its 30 s (run 299).
 */
const SQLITE_WRITER = `
import os, sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1] + ".new")
conn.executescript("""
CREATE TABLE IF NOT EXISTS sessions (session_id TEXT PRIMARY KEY, user_id TEXT, created_at TEXT, last_active TEXT, metadata TEXT);
CREATE TABLE IF NOT EXISTS interactions (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT, timestamp TEXT, role TEXT,
  content TEXT, metadata TEXT, FOREIGN KEY (session_id) REFERENCES sessions (session_id));
""")
for u in range(${USERS}):
    conn.execute("INSERT INTO sessions VALUES (?, 'user', '2026-01-01T00:00:00', '2026-01-01T00:00:00', '{}')", (f"s{u:03d}",))
conn.commit()
conn.close()
os.rename(sys.argv[1] + ".new", sys.argv[1])
conn = sqlite3.connect(sys.argv[1])
n = 0
while True:
    n += 1
    conn.execute("DELETE FROM interactions")
    for u in range(${USERS}):
        for k in range(n % 5 + 1):
            conn.execute("INSERT INTO interactions (session_id, timestamp, role, content, metadata) VALUES (?, '2026-01-01T00:00:01', 'user', ?, '{}')",
                         (f"s{u:03d}", "x" * 2000 + str(n)))
    conn.commit()
    time.sleep(0.1)
`;

let writer: ChildProcess | undefined;
let dir: string | undefined;

afterEach(() => {
  writer?.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Opens `service`'s store at `path` again and again while `program` writes it; each read one state of it. */
async function readWhileWritten(service: 'jarvis-memory' | 'session-memory', file: string, program: string): Promise<void> {
  dir = mkdtempSync(join(tmpdir(), 'memshift-torn-'));
  const path = join(dir, file);
  writer = spawn('python3', ['-c', program, path], { stdio: ['ignore', 'ignore', 'inherit'] });
  await expect.poll(() => existsSync(path), { timeout: 30_000 }).toBe(true);
  const seen = new Set<number>();
  // 40 reads, or 8 at least once 45 s went by: on a busy machine each waits longer for a moment the writer is still
  // (CI run 261, beside other suites: 120 s were not enough for 40), and what each must show is the same.
  const enough = Date.now() + 45_000;
  for (let read = 0; read < 40 && (read < 8 || Date.now() < enough); read++) {
    const source = await openLegacySource(service, path);
    try {
      const records = await source.records({});
      expect(records).toHaveLength(USERS);
      // One state: every key holds as many elements as the others.
      const lengths = new Set(records.map((r) => r.lists[0]!.length));
      expect(lengths.size).toBe(1);
      seen.add(records[0]!.lists[0]!.length);
    } finally {
      await source.close();
    }
    await sleep(20);
  }
  // The reads met the store in different states.
  expect(seen.size).toBeGreaterThan(1);
}

it('reads a JSON store its agent keeps rewriting in place: whole states only, never a failure', async () => {
  await readWhileWritten('jarvis-memory', 'jarvis_memory_store.json', WRITER);
}, 120_000);

it('reads a SQLite store its agent keeps committing to: whole states only, never a failure', async () => {
  await readWhileWritten('session-memory', 'session_memory.db', SQLITE_WRITER);
}, 120_000);
