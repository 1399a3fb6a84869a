/**
 * The orchestrator's side, read straight from its PostgreSQL: per legacy key (recorded by the translators
 * in the session's metadata) the live memories of its sessions, as a canonical record. Digests and range
 * checksums are computed in SQL, so only the ranges that differ ever leave the database.
 * Over 300 lines: every statement memshift runs on the orchestrator's database is here, so the runbook's grants and
 * indexes (README, step 2) answer to this one file.
 */
import { WRITE_TAG_PREFIX, writeTag } from '../services/orchestrator-client.js';
import pg from 'pg';
import { serviceOf, type ServiceName } from '../services/registry.js';
import { wholeSecondsSql, type CanonicalRecord } from '../services/records.js';
import { pyLoads } from '../util/pyjson.js';
import { pgPool } from '../util/pg-url.js';
import { connectClient } from '../store/client.js';
import type { OrchestratorView } from '../services/service.js';
import { childLogger } from '../telemetry/log.js';
import { ELEMENT_SEP, LIST_SEP, type KeyRange } from './canonical.js';
import type { RangeChecksum, RecordSource, RecordsOptions } from './source.js';

const log = childLogger('reconcile.orchestrator');

/** How many of the write tags asked for the orchestrator holds (the prefix lets the runbook's partial index serve it). */
const SHOWS_WRITES = `SELECT count(DISTINCT tag)::int AS n FROM memory_tags WHERE tag LIKE '${WRITE_TAG_PREFIX}%' AND tag = ANY($1::text[])`;

/** Statements a long run of ranges is split into, and the fewest ranges worth a statement of their own. */
const PARALLEL = 2;
const PARALLEL_MIN = 32;
/** A statement a read replica cancelled for a conflict with its recovery: asked this many times in all, waiting 0.25 s doubling to 4 s (16 s). */
const CONFLICT_ATTEMPTS = 8;
const CONFLICT_FIRST_WAIT_MS = 250;
const CONFLICT_LAST_WAIT_MS = 4_000;
/** Sampled keys per planned segment: enough to place its bounds within a few percent. */
const SAMPLE_PER_SEGMENT = 20;
// Not a condition any index can serve, on purpose: without statistics (a bulk load not yet analyzed, as a backfill
// leaves the tables) the planner took a range's sessions for a handful and, per session, ANDed the session's memories
// with an index scan of every memory not expiring: rows read grew with sessions x memories (36 million at 3,000 users).
const LIVE = `m.is_active AND coalesce(m.expires_at, 'infinity') > now()`;
// One order for every aggregate of a key (its sessions, then their memories by creation), so PostgreSQL
// sorts the joined rows once instead of once per key and aggregate. The orchestrator's schema has no sequence
// column and two memories may share a created_at: the legacy time each record carries breaks the tie, then the id.
// (jsonb order: epoch floats numerically, ISO times as text; memshift writes them strictly increasing per process).
const LEGACY_TIME = `coalesce(m.content->'timestamp', m.content->'metadata'->'timestamp')`;
const ORDER = `ORDER BY s.created_at, s.session_id, m.created_at, ${LEGACY_TIME}, m.memory_id`;
/** The digest's separators (canonical.ts) as SQL. */
const ELEMENT_CHR = `chr(${ELEMENT_SEP.charCodeAt(0)})`;
const LIST_CHR = `chr(${LIST_SEP.charCodeAt(0)})`;

type Params = unknown[];
const param = (params: Params, v: unknown): string => `$${params.push(v)}`;

function rangeWhere(keyExpr: string, range: KeyRange, params: Params): string {
  const conds: string[] = [];
  if (range.from !== undefined) conds.push(`${keyExpr} COLLATE "C" >= ${param(params, range.from)}`);
  if (range.to !== undefined) conds.push(`${keyExpr} COLLATE "C" < ${param(params, range.to)}`);
  return conds.map((c) => ` AND ${c}`).join('');
}

class OrchestratorSource implements RecordSource {
  private readonly view: OrchestratorView;
  private readonly emptyIsAbsent: boolean;
  /** Per list, how many newest elements the legacy service keeps (undefined: all). */
  private readonly retain: (number | undefined)[];

  constructor(
    readonly service: ServiceName,
    private readonly pool: pg.Pool,
    private readonly ownsPool = false,
    /** The pool's bound on an answer (its query_timeout), named in the error a silent database gets. */
    private readonly answerMs?: number,
  ) {
    this.view = serviceOf(service).orchestratorView;
    this.emptyIsAbsent = serviceOf(service).record.emptyIsAbsent;
    this.retain = serviceOf(service).record.lists.map((l) => l.retain);
  }

  /**
   * The selected sessions joined with their live memories; where the legacy keeps only the newest N of a list, each
   * memory carries its rank among its list's, newest first (r<i>), one session's memories at a time. A header given
   * is worked out once per session (`s.header`), in the sessions' own subquery: where it reads memories of its own
   * (contextual's snapshot), per joined row it would read them once per memory of the session.
   */
  private joined(selection: string, header = 'NULL'): string {
    const ranks = this.view.lists
      .map((l, i) =>
        this.retain[i] === undefined
          ? ''
          : `, row_number() OVER (PARTITION BY (${l.where}) ORDER BY m.created_at DESC, ${LEGACY_TIME} DESC, m.memory_id DESC) AS r${i}`,
      )
      .join('');
    // OFFSET 0 keeps PostgreSQL from merging the subquery into the join, which would move the header back to every row.
    const sessions = `(SELECT s.*, ${header} AS header FROM sessions s WHERE s.ended_at IS NULL AND ${this.view.sessions} ${selection} OFFSET 0) s`;
    return ranks
      ? `${sessions} LEFT JOIN LATERAL (SELECT m.*${ranks} FROM memory_entries m WHERE m.session_id = s.session_id AND ${LIVE}) m ON true`
      : `${sessions} LEFT JOIN memory_entries m ON m.session_id = s.session_id AND ${LIVE}`;
  }

  /** The memories of list i that the legacy side would still hold. */
  private listWhere(i: number): string {
    const where = this.view.lists[i]!.where;
    return this.retain[i] === undefined ? where : `(${where}) AND m.r${i} <= ${this.retain[i]}`;
  }

  /** A retained list's element just before the legacy side's window, as a column (CanonicalRecord.before). */
  private before(i: number): string {
    const n = this.retain[i];
    if (n === undefined) return '';
    return `, ((jsonb_agg(${this.element(i, 'rows')}) FILTER (WHERE (${this.view.lists[i]!.where}) AND m.r${i} = ${n + 1}))->0)::text AS b${i}`;
  }

  /** A list's element as jsonb: its tuple, then its legacy time (whole seconds in digests). */
  private element(i: number, mode: 'digest' | 'rows'): string {
    const l = this.view.lists[i]!;
    if (l.time === undefined) return l.element;
    return `(${l.element}) || jsonb_build_array(${mode === 'digest' ? wholeSecondsSql(l.time) : l.time})`;
  }

  /** Memories the orchestrator keeps beyond what the legacy service retains (history, not differences). */
  async retained(range: KeyRange): Promise<number> {
    const beyond = this.retain.flatMap((n, i) => (n === undefined ? [] : [`((${this.view.lists[i]!.where}) AND m.r${i} > ${n})`]));
    if (!beyond.length) return 0;
    const params: Params = [];
    const { rows } = await this.ask<{ n: number }>(
      `SELECT count(*)::float8 AS n FROM ${this.joined(rangeWhere(this.view.key, range, params))} WHERE ${beyond.join(' OR ')}`,
      params,
    );
    return rows[0]?.n ?? 0;
  }

  /**
   * One row per key in the selection: the key and either its digest, or its header and per list its
   * elements as jsonb. A key's sessions (normally one) are joined with their live memories and grouped.
   */
  private perKey(selection: string, mode: 'digest' | 'rows'): string {
    const v = this.view;
    const list = (_: unknown, i: number) =>
      mode === 'digest'
        ? `coalesce(string_agg((${this.element(i, mode)})::text, ${ELEMENT_CHR} ${ORDER}) FILTER (WHERE ${this.listWhere(i)}), '')`
        : `coalesce(jsonb_agg(${this.element(i, mode)} ${ORDER}) FILTER (WHERE ${this.listWhere(i)}), '[]')::text`;
    // Of a key's sessions (one, unless replicas raced to create it or a create's reply was lost: the others stay empty,
    // their header without the memories it may read, contextual's snapshot) the least header of those holding live
    // memories, else the least: deterministic, and aggregates without an order of their own (the rows are sorted once).
    const header = 'coalesce(min(s.header::text) FILTER (WHERE m.memory_id IS NOT NULL), min(s.header::text))';
    const columns =
      mode === 'digest'
        ? `md5(${[header, ...v.lists.map((l, i) => `${i === 0 ? ELEMENT_CHR : LIST_CHR} || ${list(l, i)}`)].join(' || ')}) AS h`
        : `${header} AS header, ${v.lists.map((l, i) => `${list(l, i)} AS e${i}${this.before(i)}`).join(', ')}`;
    const nonEmpty = this.emptyIsAbsent ? `HAVING count(m.memory_id) FILTER (WHERE ${v.lists.map((_, i) => `(${this.listWhere(i)})`).join(' OR ')}) > 0` : '';
    return `
      SELECT ${v.key} COLLATE "C" AS key, ${columns}
      FROM ${this.joined(selection, mode === 'digest' ? (v.digestHeader ?? v.header) : v.header)}
      GROUP BY 1
      ${nonEmpty}`;
  }

  /** Adjacent ranges (one's end the next one's start) are checksummed by one statement, bucketed by width_bucket. */
  async checksums(ranges: readonly KeyRange[]): Promise<RangeChecksum[]> {
    const runs: KeyRange[][] = [];
    for (const r of ranges) {
      const run = runs.at(-1);
      const end = run?.at(-1)?.to;
      if (run && end !== undefined && end === r.from) run.push(r);
      else runs.push([r]);
    }
    // A long run is shared between statements in parallel: one statement's grouping runs on one core.
    const pieces = runs.flatMap((run) => {
      if (run.length < 2 * PARALLEL_MIN) return [run];
      const size = Math.ceil(run.length / PARALLEL);
      return Array.from({ length: PARALLEL }, (_, i) => run.slice(i * size, (i + 1) * size)).filter((p) => p.length);
    });
    return (await Promise.all(pieces.map((run) => this.checksumRun(run)))).flat();
  }

  private async checksumRun(run: readonly KeyRange[]): Promise<RangeChecksum[]> {
    const params: Params = [];
    const whole = rangeWhere(
      this.view.key,
      { ...(run[0]!.from === undefined ? {} : { from: run[0]!.from }), ...(run.at(-1)!.to === undefined ? {} : { to: run.at(-1)!.to }) },
      params,
    );
    const bucket =
      run.length > 1
        ? `width_bucket(q.key, ${param(
            params,
            run.slice(1).map((r) => r.from),
          )}::text[])`
        : '0';
    const word = (from: number) => `('x' || substr(q.h, ${from}, 8))::bit(32)::bigint`;
    const { rows } = await this.ask<{ i: number; count: number; a: number; b: number }>(
      `SELECT ${bucket} AS i, count(*)::int AS count,
              (sum(${word(1)}) % 4294967296)::float8 AS a, (sum(${word(9)}) % 4294967296)::float8 AS b
       FROM (${this.perKey(whole, 'digest')}) q GROUP BY 1`,
      params,
    );
    const out = run.map(() => ({ count: 0, a: 0, b: 0 }));
    for (const row of rows) out[row.i] = { count: row.count, a: row.a, b: row.b };
    return out;
  }

  /** Every n-th key of a random sample of the sessions (SAMPLE_PER_SEGMENT per segment): no sort of the whole table. */
  async segmentKeys(range: KeyRange, size: number): Promise<string[]> {
    const percent = Math.min(100, (100 * SAMPLE_PER_SEGMENT) / size);
    const params: Params = [];
    const { rows } = await this.ask<{ key: string }>(
      `SELECT key FROM (
         SELECT key, row_number() OVER (ORDER BY key) AS n FROM (
           SELECT DISTINCT ${this.view.key} COLLATE "C" AS key FROM sessions s TABLESAMPLE BERNOULLI (${param(params, percent)})
           WHERE s.ended_at IS NULL AND ${this.view.sessions} ${rangeWhere(this.view.key, range, params)}) q) r
       WHERE n % ${param(params, SAMPLE_PER_SEGMENT)} = 0 ORDER BY key`,
      params,
    );
    return rows.map((r) => r.key);
  }

  async records(range: KeyRange, opts: RecordsOptions = {}): Promise<CanonicalRecord[]> {
    const params: Params = [];
    let where = rangeWhere(this.view.key, range, params);
    if (opts.after !== undefined) where += ` AND ${this.view.key} COLLATE "C" > ${param(params, opts.after)}`;
    const limit = opts.limit === undefined ? '' : `LIMIT ${param(params, opts.limit)}`;
    return this.query(`${this.perKey(where, 'rows')} ORDER BY 1 ${limit}`, params);
  }

  /** The records of exactly these keys (absent ones are left out). */
  async recordsOf(keys: readonly string[]): Promise<CanonicalRecord[]> {
    const params: Params = [];
    const where = ` AND ${this.view.key} COLLATE "C" = ANY(${param(params, keys)}::text[])`;
    return this.query(`${this.perKey(where, 'rows')} ORDER BY 1`, params);
  }

  private async query(sql: string, params: Params): Promise<CanonicalRecord[]> {
    const { rows } = await this.ask<Record<string, unknown>>(sql, params);
    const retains = this.retain.some((n) => n !== undefined);
    const before = (b: unknown) => (typeof b === 'string' ? (pyLoads(b) as unknown[]) : null);
    return rows.map((row) => ({
      key: row.key as string,
      // Read as the translator reads the orchestrator: numbers keep their int / float spelling.
      header: (pyLoads(row.header as string) as unknown[]).slice(1),
      lists: this.view.lists.map((_, i) => pyLoads(row[`e${i}`] as string) as unknown[][]),
      ...(retains ? { before: this.view.lists.map((_, i) => before(row[`b${i}`])) } : {}),
    }));
  }

  async splitKeys(range: KeyRange, parts: number): Promise<string[]> {
    if (parts < 2) return [];
    const params: Params = [];
    const fractions = Array.from({ length: parts - 1 }, (_, i) => (i + 1) / parts);
    const { rows } = await this.ask<{ keys: string[] | null }>(
      `SELECT percentile_disc(${param(params, fractions)}::float8[]) WITHIN GROUP (ORDER BY key) AS keys
       FROM (SELECT DISTINCT ${this.view.key} COLLATE "C" AS key FROM sessions s
             WHERE s.ended_at IS NULL AND ${this.view.sessions} ${rangeWhere(this.view.key, range, params)}) q`,
      params,
    );
    const keys = rows[0]?.keys ?? [];
    return keys.filter((k, i) => k !== null && k !== range.from && k !== keys[i - 1]);
  }

  /**
   * The reads of this source that no index serves, asked of the planner itself (the runbook's indexes, step 2). Each
   * then reads its whole table: a range of legacy keys all of sessions (at 1M keys a run took 40-44 s instead of
   * 15-27 s), a look for write tags all of memory_tags, the orchestrator's largest table, once per key rewritten.
   */
  async unindexed(): Promise<string[]> {
    const params: Params = [];
    const range = rangeWhere(this.view.key, { from: 'a', to: 'b' }, params);
    const reads = [
      { what: 'a range of legacy keys (sessions)', sql: `SELECT 1 FROM sessions s WHERE true ${range}`, params },
      { what: "memshift's write tags (memory_tags)", sql: SHOWS_WRITES, params: [[writeTag('x')]] },
    ];
    // Through connectClient: a checked-out client whose server goes away between these statements would emit 'error' unheard.
    const client = await connectClient(this.pool);
    try {
      await client.query('BEGIN');
      await client.query('SET LOCAL enable_seqscan = off');
      const out: string[] = [];
      for (const r of reads) {
        const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${r.sql}`, r.params);
        if (rows.some((row) => /Seq Scan/.test(row['QUERY PLAN']))) out.push(r.what);
      }
      return out;
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release();
    }
  }

  async showsWrites(writeIds: readonly string[]): Promise<boolean> {
    const { rows } = await this.ask<{ n: number }>(SHOWS_WRITES, [writeIds.map(writeTag)]);
    return rows[0]!.n === new Set(writeIds).size;
  }

  /**
   * A statement on the orchestrator's database; one it did not answer in time fails saying so. One a read replica
   * cancelled for a conflict with its recovery (the primary's locks or cleanup replayed under it: SQLSTATE 40001) is
   * asked again after a while, as every statement here only reads.
   */
  private async ask<R extends pg.QueryResultRow>(sql: string, params: Params): Promise<pg.QueryResult<R>> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.pool.query<R>(sql, params);
      } catch (err) {
        if (err instanceof pg.DatabaseError && err.code === '40001' && attempt < CONFLICT_ATTEMPTS) {
          const waitMs = Math.min(CONFLICT_FIRST_WAIT_MS * 2 ** (attempt - 1), CONFLICT_LAST_WAIT_MS);
          log.info(
            { service: this.service, attempt, waitMs, error: err.message },
            'statement cancelled by the orchestrator database (a replica replaying its primary): asked again',
          );
          await new Promise((r) => setTimeout(r, waitMs));
          continue;
        }
        // node-postgres's query_timeout and connectionTimeoutMillis: no answer, rather than a refusal.
        if (this.answerMs === undefined || !/timeout/i.test((err as Error).message) || err instanceof pg.DatabaseError) throw err;
        throw new Error(`orchestrator database gave no answer within ${this.answerMs} ms (${(err as Error).message})`);
      }
    }
  }

  async close(): Promise<void> {
    if (this.ownsPool) await this.pool.end();
  }
}

/**
 * A reader with its own small pool on the orchestrator's database. A statement unanswered for `answerMs` (a stopped
 * server, a lost host: nothing answers, nothing closes) fails the run rather than hold it, and its service's lock,
 * for as long as the silence lasts; the server stops one that runs longer (statement_timeout).
 */
export function openOrchestratorSource(service: ServiceName, url: string, answerMs = 300_000): OrchestratorSource {
  // Digests group a whole range in one sort: work_mem gives it room in memory rather than on disk.
  const settings = [
    ['work_mem', '64MB'],
    ['statement_timeout', answerMs],
  ] as const;
  const pool = pgPool(url, 'reconcile', settings, { max: 3, query_timeout: answerMs, connectionTimeoutMillis: Math.min(answerMs, 10_000) });
  pool.on('error', () => undefined);
  const source = new OrchestratorSource(service, pool, true, answerMs);
  source.unindexed().then(
    (reads) =>
      reads.length === 0 ||
      log.warn(
        { service, unindexed: reads },
        `no index on the orchestrator's tables serves ${reads.join(', nor ')}: each reads its whole table (README, runbook step 2)`,
      ),
    () => undefined,
  );
  return source;
}
