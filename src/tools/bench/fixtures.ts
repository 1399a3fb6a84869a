/**
 * Synthetic stores for the reconciliation tests and bench: N records a side written straight into the legacy
 * store (session-memory's SQLite file, jarvis-memory's JSON file) and the orchestrator's tables (plus the id
 * map), equal except for planted differences of every kind. (No memory_tags rows: nothing reads them back.)
 */
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { once } from 'node:events';
import sqlite from 'node-sqlite3-wasm';
import type pg from 'pg';
import { ORCHESTRATOR_INDEXES, ORCHESTRATOR_TABLES } from '../sim/storage/schema.js';
import { SESSION_MEMORY_SCHEMA } from '../sim/storage/legacy-formats.js';

type PlantedKind = 'missing_in_new' | 'missing_in_legacy' | 'differing';

export interface Planted {
  key: string;
  kind: PlantedKind;
  /** For a differing record, the field path that differs. */
  field?: string;
}

export interface FixtureOptions {
  records: number;
  /** Differences planted, spread over the key space, cycling through the kinds below. */
  differences: number;
  sqlitePath: string;
  /** The orchestrator's database (its schema is created). */
  orchestrator: pg.Pool;
  /** The state store holding the id map (migrated); omitted: no id map rows. */
  state?: pg.Pool;
  /**
   * false: the tables left as a bulk write leaves them, without planner statistics (autovacuum held off, so that they
   * stay so), as a backfill's closing reconciliation meets them. Default true: vacuumed and analyzed.
   */
  analyzed?: boolean;
}

const PAD = 7;
export const fixtureKey = (i: number): string => `sess-${String(i).padStart(PAD, '0')}`;
const KEY_SQL = `'sess-' || lpad(i::text, ${PAD}, '0')`;
const SESSION_SQL = `'session-' || lpad(to_hex(i), 8, '0')`;

/** Kinds in planting order: three ways to differ (legacy content, new role, new user_id) between the missing ones. */
const PLAN: { kind: PlantedKind; field?: string; how: 'drop-new' | 'drop-legacy' | 'legacy-content' | 'new-role' | 'new-user' }[] = [
  { kind: 'missing_in_new', how: 'drop-new' },
  { kind: 'missing_in_legacy', how: 'drop-legacy' },
  { kind: 'differing', field: 'interactions[0].content', how: 'legacy-content' },
  { kind: 'differing', field: 'interactions[0].role', how: 'new-role' },
  { kind: 'differing', field: 'user_id', how: 'new-user' },
];

/** Where the differences go: spread over the key space, cycling through the kinds. */
function planDifferences<How extends string>(
  n: number,
  differences: number,
  kinds: readonly { kind: PlantedKind; field?: string; how: How }[],
  key: (i: number) => string,
) {
  const step = Math.floor(n / (differences + 1));
  const plan = new Map<number, (typeof kinds)[number]>();
  for (let k = 0; k < differences; k++) plan.set((k + 1) * step + (k % 7), kinds[k % kinds.length]!);
  const planted = [...plan].map(([i, p]) => ({ key: key(i), kind: p.kind, ...(p.field ? { field: p.field } : {}) }));
  const indices = (how: How) => [...plan].filter(([, p]) => p.how === how).map(([i]) => i);
  return { planted, indices };
}

export async function generateSessionMemoryFixture(opts: FixtureOptions): Promise<Planted[]> {
  const { records: n } = opts;
  const { planted, indices } = planDifferences(n, opts.differences, PLAN, fixtureKey);

  await writeLegacy(opts.sqlitePath, n, new Set(indices('drop-legacy')), new Set(indices('legacy-content')));

  const db = opts.orchestrator;
  await db.query(ORCHESTRATOR_TABLES);
  await db.query(
    `INSERT INTO sessions (session_id, user_id, session_type, metadata, created_at)
     SELECT ${SESSION_SQL}, 'user-' || (i % 1000), 'conversation',
            jsonb_build_object('legacy_session_id', ${KEY_SQL}, 'metadata', jsonb_build_object('n', i)), now()
     FROM generate_series(0, $1 - 1) i`,
    [n],
  );
  await db.query(
    `INSERT INTO memory_entries (memory_id, session_id, memory_type, content, source_agent, created_at, updated_at)
     SELECT 'mem-' || lpad(to_hex(i), 8, '0'), ${SESSION_SQL}, 'conversation',
            jsonb_build_object('text', 'message ' || i, 'role', CASE WHEN i % 2 = 1 THEN 'assistant' ELSE 'user' END,
                               'timestamp', '2024-01-01T00:00:00', 'source_agent', 'session_memory_agent', 'metadata', '{}'::jsonb),
            'session_memory_agent', now(), now()
     FROM generate_series(0, $1 - 1) i`,
    [n],
  );
  const dropNew = indices('drop-new');
  const sessionIds = (list: number[]) => list.map((i) => `session-${i.toString(16).padStart(8, '0')}`);
  await db.query('DELETE FROM memory_entries WHERE session_id = ANY($1::text[])', [sessionIds(dropNew)]);
  await db.query('DELETE FROM sessions WHERE session_id = ANY($1::text[])', [sessionIds(dropNew)]);
  await db.query(`UPDATE memory_entries SET content = jsonb_set(content, '{role}', '"system"') WHERE session_id = ANY($1::text[])`, [
    sessionIds(indices('new-role')),
  ]);
  await db.query(`UPDATE sessions SET user_id = 'someone-else' WHERE session_id = ANY($1::text[])`, [sessionIds(indices('new-user'))]);
  await finishLoad(db, opts.analyzed);

  if (opts.state) {
    await opts.state.query(
      `INSERT INTO id_map (service, legacy_key, orchestrator_session_id)
       SELECT 'session-memory', ${KEY_SQL}, ${SESSION_SQL} FROM generate_series(0, $1 - 1) i WHERE NOT i = ANY($2::int[])`,
      [n, dropNew],
    );
  }
  return planted.sort((a, b) => (a.key < b.key ? -1 : 1));
}

/** Indexes after the bulk load: building them once is much cheaper than maintaining them row by row. */
async function finishLoad(db: pg.Pool, analyzed = true): Promise<void> {
  await db.query(ORCHESTRATOR_INDEXES);
  for (const table of ['sessions', 'memory_entries']) {
    // A long-lived database has its hint bits set and statistics current; a fresh bulk load has neither.
    if (analyzed) await db.query(`VACUUM ANALYZE ${table}`);
    else await db.query(`ALTER TABLE ${table} SET (autovacuum_enabled = false)`);
  }
}

const JARVIS_PAD = 7;
const jarvisKey = (i: number): string => `user-${String(i).padStart(JARVIS_PAD, '0')}`;
const JARVIS_KEY_SQL = `'user-' || lpad(i::text, ${JARVIS_PAD}, '0')`;
const JARVIS_SESSION_SQL = `'jarvis-' || lpad(to_hex(i), 8, '0')`;
/** Each user's memories: a float epoch time as the agent stamps them (time.time()), and a text. */
const JARVIS_MEMORIES = 2;
const jarvisTime = (i: number, j: number): string => `${1704067200 + (i % 86400)}.${j + 1}`;
const JARVIS_PLAN = [
  { kind: 'missing_in_new', how: 'drop-new' },
  { kind: 'missing_in_legacy', how: 'drop-legacy' },
  { kind: 'differing', field: 'memories[0].memory', how: 'legacy-memory' },
  { kind: 'differing', field: 'memories[1].memory', how: 'new-memory' },
] as const;

export interface JarvisFixtureOptions extends Omit<FixtureOptions, 'sqlitePath' | 'state'> {
  /** The agent's jarvis_memory_store.json to write. */
  jsonPath: string;
}

/** jarvis-memory: the JSON file written as the agent writes it (json.dump, users in no particular order), and its orchestrator rows. */
export async function generateJarvisMemoryFixture(opts: JarvisFixtureOptions): Promise<Planted[]> {
  const { records: n } = opts;
  const { planted, indices } = planDifferences(n, opts.differences, JARVIS_PLAN, jarvisKey);
  const dropped = new Set(indices('drop-legacy'));
  const altered = new Set(indices('legacy-memory'));
  const out = createWriteStream(opts.jsonPath);
  let first = true;
  let chunk = '{';
  // Newest users first, so the reader has to sort.
  for (let i = n - 1; i >= 0; i--) {
    if (dropped.has(i)) continue;
    const memories = Array.from(
      { length: JARVIS_MEMORIES },
      (_, j) => `{"timestamp": ${jarvisTime(i, j)}, "memory": "memory ${i}.${j}${altered.has(i) && j === 0 ? ' [altered]' : ''}"}`,
    );
    chunk += `${first ? '' : ', '}"${jarvisKey(i)}": [${memories.join(', ')}]`;
    first = false;
    if (chunk.length > 1 << 20) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  out.end(`${chunk}}`);
  await once(out, 'finish');

  const db = opts.orchestrator;
  await db.query(ORCHESTRATOR_TABLES);
  await db.query(
    `INSERT INTO sessions (session_id, user_id, session_type, metadata, created_at)
     SELECT ${JARVIS_SESSION_SQL}, ${JARVIS_KEY_SQL}, 'conversation', jsonb_build_object('legacy_user_id', ${JARVIS_KEY_SQL}), now()
     FROM generate_series(0, $1 - 1) i`,
    [n],
  );
  await db.query(
    `INSERT INTO memory_entries (memory_id, session_id, memory_type, content, source_agent, created_at, updated_at)
     SELECT 'jmem-' || lpad(to_hex(i), 8, '0') || '-' || j, ${JARVIS_SESSION_SQL}, 'entity',
            jsonb_build_object('text', 'memory ' || i || '.' || j, 'source_agent', 'jarvis_memory_agent',
                               'timestamp', ((1704067200 + i % 86400)::text || '.' || (j + 1))::numeric,
                               'metadata', jsonb_build_object('memory', 'memory ' || i || '.' || j)),
            'jarvis_memory_agent', now() + j * interval '1 ms', now() + j * interval '1 ms'
     FROM generate_series(0, $1 - 1) i, generate_series(0, ${JARVIS_MEMORIES - 1}) j`,
    [n],
  );
  const sessionIds = (list: number[]) => list.map((i) => `jarvis-${i.toString(16).padStart(8, '0')}`);
  await db.query('DELETE FROM memory_entries WHERE session_id = ANY($1::text[])', [sessionIds(indices('drop-new'))]);
  await db.query('DELETE FROM sessions WHERE session_id = ANY($1::text[])', [sessionIds(indices('drop-new'))]);
  await db.query(
    `UPDATE memory_entries SET content = jsonb_set(content, '{metadata,memory}', '"changed"') WHERE session_id = ANY($1::text[]) AND memory_id LIKE '%-1'`,
    [sessionIds(indices('new-memory'))],
  );
  await finishLoad(db, opts.analyzed);
  return planted.sort((a, b) => (a.key < b.key ? -1 : 1));
}

/** Generated inside SQLite (a recursive sequence), which is far faster than row-by-row inserts; written to the file as it goes. */
async function writeLegacy(path: string, n: number, dropped: Set<number>, altered: Set<number>): Promise<void> {
  await rm(path, { force: true });
  const db = new sqlite.Database(path);
  const list = (set: Set<number>) => [...set].map((i) => `'${fixtureKey(i)}'`).join(', ');
  try {
    db.exec(SESSION_MEMORY_SCHEMA);
    const seq = `WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < ${n - 1})`;
    const at = `'2024-01-01T00:00:00'`;
    db.exec(`BEGIN;
      ${seq} INSERT INTO sessions (session_id, user_id, created_at, last_active, metadata)
        SELECT printf('sess-%0${PAD}d', i), 'user-' || (i % 1000), ${at}, ${at}, '{"n": ' || i || '}' FROM seq;
      ${seq} INSERT INTO interactions (session_id, timestamp, role, content, metadata)
        SELECT printf('sess-%0${PAD}d', i), ${at}, CASE WHEN i % 2 = 1 THEN 'assistant' ELSE 'user' END, 'message ' || i, '{}' FROM seq;
      DELETE FROM sessions WHERE session_id IN (${list(dropped)});
      DELETE FROM interactions WHERE session_id IN (${list(dropped)});
      UPDATE interactions SET content = content || ' [altered]' WHERE session_id IN (${list(altered)});
      COMMIT;`);
  } finally {
    db.close();
  }
}
