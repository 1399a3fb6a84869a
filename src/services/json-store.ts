/**
 * A legacy JSON store (a map of keys, or several) read as a stream into a temporary SQLite file that then
 * serves its records in key order: memory does not grow with the store. stream-json's tokenizer cuts out one
 * member at a time, its numbers spelt as written; each member is kept as JSON text and read back as the agent
 * reads it (pyLoads). A file the tokenizer refuses but Python's json reads (NaN, Infinity, UTF-16) is read whole.
 */
import { createReadStream, rmSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { TextDecoder } from 'node:util';
import sqlite from 'node-sqlite3-wasm';
import { none } from 'stream-chain/defs.js';
import { jsonParser, type Token } from 'stream-json/core/parser.js';
import { pyDumps, pyJsonText, pyLoads } from '../util/pyjson.js';
import { isObject } from './legacy-values.js';
import { isEmptyRecord, type CanonicalRecord, type KeyBounds, type LegacyRecords, type LegacyStoreOptions } from './records.js';
import { rangeWhere } from './sqlite-range.js';
import { readSnapshot } from './file-snapshot.js';
import { scratchDir } from '../util/scratch.js';

const { Database } = sqlite;
type Database = InstanceType<typeof Database>;

/** The objects whose members are keyed records' parts, by their path of keys from the file's root object. */
export type KeyedObjects = readonly (readonly string[])[];

/** Builds a record from its parts: one per keyed object, undefined where the key is absent from it. */
export type RecordOfParts = (key: string, parts: unknown[]) => CanonicalRecord;

type Flat<T> = T | typeof none | { values: T[] };
const flat = <T>(r: Flat<T>): T[] => (r === none ? [] : typeof r === 'object' && r !== null && 'values' in r ? r.values : [r as T]);

/** Ends a stream-json stage: its function called with `none` (stream-chain's flush, which its types leave out). */
const flush = <O>(stage: (value: never) => O): O => (stage as unknown as (value: typeof none) => O)(none);

const ARRAY = Symbol('array');

/**
 * A token's JSON text: numbers as written, strings and keys as JSON.stringify escapes them (read back the same).
 * stream-json's stringer does this too, but its general per-token path cost a third of a large store's reading.
 */
function tokenText(t: Token): string {
  switch (t.name) {
    case 'startObject':
      return '{';
    case 'endObject':
      return '}';
    case 'startArray':
      return '[';
    case 'endArray':
      return ']';
    case 'keyValue':
      return `${JSON.stringify(t.value)}:`;
    case 'stringValue':
      return JSON.stringify(t.value);
    case 'numberValue':
      return t.value;
    case 'nullValue':
      return 'null';
    case 'trueValue':
      return 'true';
    case 'falseValue':
      return 'false';
    default:
      return '';
  }
}

/** Cuts a token stream into the members of the keyed objects, each as JSON text. */
class MemberCutter {
  /** Per open container outside a member: its current key (objects) or ARRAY. */
  private readonly path: (string | typeof ARRAY | undefined)[] = [];
  /** The member being cut: its text so far, its nesting, and whether a value ended last (a comma before the next). */
  private member?: { part: number; key: string; depth: number; text: string; comma: boolean };
  private started = false;

  constructor(
    private readonly objects: KeyedObjects,
    private readonly onMember: (part: number, key: string, text: string) => void,
  ) {}

  push(t: Token): void {
    if (!this.started) {
      if (t.name !== 'startObject') throw new Error('not a JSON object');
      this.started = true;
    }
    if (this.member) return this.inMember(t);
    if (t.name === 'keyValue') this.path[this.path.length - 1] = t.value;
    else if (t.name === 'endObject' || t.name === 'endArray') this.path.pop();
    else {
      const part = this.partOf();
      if (part >= 0) {
        this.member = { part, key: this.path.at(-1) as string, depth: 0, text: '', comma: false };
        this.inMember(t);
      } else if (t.name === 'startObject') this.path.push(undefined);
      else if (t.name === 'startArray') this.path.push(ARRAY);
    }
  }

  /** Which keyed object the value starting now is a member of (-1: none). */
  private partOf(): number {
    const key = this.path.at(-1);
    if (typeof key !== 'string') return -1;
    return this.objects.findIndex((o) => o.length === this.path.length - 1 && o.every((k, i) => this.path[i] === k));
  }

  private inMember(t: Token): void {
    const m = this.member!;
    const opens = t.name === 'startObject' || t.name === 'startArray';
    const closes = t.name === 'endObject' || t.name === 'endArray';
    m.text += (m.comma && !closes ? ',' : '') + tokenText(t);
    m.comma = !opens && t.name !== 'keyValue';
    m.depth += opens ? 1 : closes ? -1 : 0;
    if (m.depth > 0) return;
    this.onMember(m.part, m.key, m.text);
    this.member = undefined;
  }
}

type OnMember = (part: number, key: string, text: string) => void;

/**
 * A store whose bytes are not text in the encoding it is read in. Decoded leniently, each such byte became U+FFFD,
 * and a backfill or a repair wrote those into the orchestrator in place of the users' words.
 */
class LegacyEncodingError extends Error {
  constructor(path: string, encoding: string) {
    super(
      `${path} is not ${encoding} text: its agent writes it in its host's encoding ` +
        `(python3 -c 'import locale; print(locale.getpreferredencoding())' there); set reconcile.legacyEncoding to it`,
    );
  }
}

/**
 * `path`'s text in chunks, decoded as `encoding`; a byte that is not text in it throws. UTF-8, the usual case, is
 * decoded by the stream itself, as before the setting existed, and a chunk holding U+FFFD, which that decoding makes
 * of such a byte, throws too: the whole-file reading then tells a real U+FFFD from a bad byte.
 */
async function* textOf(path: string, encoding: string): AsyncGenerator<string> {
  // Chunks of 64 kB (the stream default): the tokenizer hands back a chunk's tokens all at once, and those of 1 MB
  // chunks outlived V8's scavenges, growing its young generation (a 1M-user store peaked at 220 MB, now 150-160).
  const chunks = { highWaterMark: 1 << 16 };
  if (isUtf8(encoding)) {
    let first = true;
    for await (const chunk of createReadStream(path, { ...chunks, encoding: 'utf8' })) {
      if ((chunk as string).includes('\uFFFD')) throw new LegacyEncodingError(path, encoding);
      // json.loads of the file's bytes skips a UTF-8 byte order mark; the tokenizer does not.
      yield first ? (chunk as string).replace(/^\uFEFF/, '') : (chunk as string);
      first = false;
    }
    return;
  }
  const decoder = new TextDecoder(encoding, { fatal: true });
  for await (const chunk of createReadStream(path, chunks)) yield refusing(() => decoder.decode(chunk as Buffer, { stream: true }), path, encoding);
  yield refusing(() => decoder.decode(), path, encoding);
}

const isUtf8 = (encoding: string): boolean => /^utf-?8$/i.test(encoding);

function refusing(decode: () => string, path: string, encoding: string): string {
  try {
    return decode();
  } catch {
    throw new LegacyEncodingError(path, encoding);
  }
}

/** The members of the keyed objects, streamed from the file (throws on what the tokenizer refuses). */
export async function streamMembers(path: string, objects: KeyedObjects, onMember: OnMember, encoding = 'utf-8'): Promise<void> {
  const parse = jsonParser({ packValues: true, streamValues: false });
  const cutter = new MemberCutter(objects, onMember);
  for await (const text of textOf(path, encoding)) for (const t of flat(parse(text))) cutter.push(t);
  for (const t of flat(flush(parse))) cutter.push(t);
}

/** The members of the keyed objects, from the whole file parsed as Python parses it (its bytes: UTF-8, -16 or -32; else as `encoding`). */
async function wholeMembers(path: string, objects: KeyedObjects, onMember: OnMember, encoding = 'utf-8'): Promise<void> {
  const bytes = await readFile(path);
  const text = refusing(() => (isUtf8(encoding) ? pyJsonText(bytes) : new TextDecoder(encoding, { fatal: true }).decode(bytes)), path, encoding);
  const data: unknown = pyLoads(text);
  if (!isObject(data)) throw new Error(`${path}: not a JSON object`);
  objects.forEach((o, part) => {
    const members = o.reduce<unknown>((at, k) => (isObject(at) ? at[k] : undefined), data);
    if (isObject(members)) for (const [key, value] of Object.entries(members)) onMember(part, key, pyDumps(value));
  });
}

/** Members per INSERT statement: each call into SQLite's WebAssembly binds and steps, so fewer calls cost less. */
const SPILL_BATCH = 64;

/** Copies the members into a fresh table `parts` (key, p0, p1, ...); the last of duplicate keys wins, as in Python. */
async function spill(db: Database, objects: KeyedObjects, read: (onMember: OnMember) => Promise<void>): Promise<void> {
  const columns = objects.map((_, i) => `p${i} TEXT`).join(', ');
  db.exec(`DROP TABLE IF EXISTS parts; CREATE TABLE parts (key TEXT PRIMARY KEY, ${columns}) WITHOUT ROWID; BEGIN`);
  // SQLite takes a statement's rows one after another, so a key twice in one batch ends with its later part too.
  const upsert = (part: number, rows: number) =>
    db.prepare(
      `INSERT INTO parts (key, p${part}) VALUES ${Array(rows).fill('(?, ?)').join(', ')} ON CONFLICT (key) DO UPDATE SET p${part} = excluded.p${part}`,
    );
  const batches = objects.map((_, i) => upsert(i, SPILL_BATCH));
  const pending: string[][] = objects.map(() => []);
  try {
    await read((part, key, text) => {
      const values = pending[part]!;
      values.push(key, text);
      if (values.length < 2 * SPILL_BATCH) return;
      batches[part]!.run(values);
      values.length = 0;
    });
    pending.forEach((values, part) => {
      if (!values.length) return;
      const rest = upsert(part, values.length / 2);
      try {
        rest.run(values);
      } finally {
        rest.finalize();
      }
    });
    db.exec('COMMIT');
  } catch (err) {
    db.exec('ROLLBACK');
    throw err;
  } finally {
    for (const s of batches) s.finalize();
  }
}

/** Records of the spilled keys in [from, to), in key order (SQLite's text order is the keys' code point order), empty ones left out. */
function* spilledRecords(db: Database, width: number, record: RecordOfParts, range: KeyBounds = {}, limit = Infinity): Generator<CanonicalRecord> {
  const { where, values } = rangeWhere('key', range);
  const columns = Array.from({ length: width }, (_, i) => `p${i}`).join(', ');
  const select = db.prepare(`SELECT key, ${columns} FROM parts ${where} ORDER BY key`);
  try {
    let n = 0;
    for (const row of select.iterate(values)) {
      if (n >= limit) return;
      const parts = Array.from({ length: width }, (_, i) => (row[`p${i}`] === null ? undefined : pyLoads(String(row[`p${i}`]))));
      const r = record(String(row.key), parts);
      if (isEmptyRecord(r)) continue;
      n++;
      yield r;
    }
  } finally {
    select.finalize();
  }
}

export async function openJsonStore(path: string, objects: KeyedObjects, record: RecordOfParts, opts: LegacyStoreOptions = {}): Promise<LegacyRecords> {
  const encoding = opts.encoding ?? 'utf-8';
  const dir = await scratchDir('memshift-json-store');
  let db: Database | undefined;
  try {
    db = new Database(join(dir, 'store.db'));
    // Ours alone: one lock for its life (this SQLite's locks are directories made and removed per statement otherwise).
    db.exec('PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF');
    const into = db;
    // Read from a whole copy: the agent rewrites the file in place after every change (file-snapshot.ts).
    const copy = join(dir, 'copy.json');
    await readSnapshot(path, copy, async (file) => {
      try {
        await spill(into, objects, (onMember) => streamMembers(file, objects, onMember, encoding));
      } catch {
        // A file the tokenizer refuses (NaN, UTF-16 among them), or the encoding: read whole, as Python reads it.
        await spill(into, objects, (onMember) => wholeMembers(file, objects, onMember, encoding));
      }
    });
    await rm(copy);
  } catch (err) {
    db?.close();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const opened = db;
  return {
    all: () => spilledRecords(opened, objects.length, record),
    between: (range, limit) => [...spilledRecords(opened, objects.length, record, range, limit)],
    close: () => {
      opened.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
