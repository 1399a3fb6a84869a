/**
 * The outbox table (migration "outbox"): storing intents, claiming due writes one key head at a time
 * across replicas, finishing them, and what the CLI and metrics ask of it.
 *
 * Over 300 lines: every statement on the outbox table, so a row's life (intent, claim, lease, finish) reads in one place.
 */
import type pg from 'pg';
import type { Side } from '../plan/plan.js';
import { serviceOf, type ServiceName } from '../services/registry.js';
import { inTransaction } from '../store/client.js';
import type { Settings } from '../util/pg-url.js';
import { LOCKED_PREFIX, ownerLockHeld } from './owner-lock.js';

/** dropped: the primary never applied the write (refused it, or a look-up found it absent), so neither side has it. */
export type OutboxStatus = 'pending' | 'inflight' | 'done' | 'dead' | 'dropped';
export const OUTBOX_STATUSES: readonly OutboxStatus[] = ['pending', 'inflight', 'done', 'dead', 'dropped'];

/** A secondary write to record: its id is made by the caller, so storing it twice is harmless. */
export interface OutboxIntent {
  id: string;
  service: ServiceName;
  key: string;
  action: string;
  side: Side;
  /** The request as the agent sent it (after memshift's own rewrites); scrubbed (empty) once the write is finished. */
  raw: Buffer;
  /** What a legacy look-up needs of it once scrubbed (legacy-lookup.ts effectDigest); no user text. */
  effect: string;
  createdAt: Date;
}

/** A finished (or primary-applied) write of a key, as a legacy look-up counts it. */
export interface AppliedWrite {
  /** null for rows stored before effects were kept; their request is still there. */
  effect: string | null;
  request: Buffer;
  seq: number;
}

export interface OutboxRow extends OutboxIntent {
  seq: number;
  /** Whether the primary applied the write: null until known (the intent is stored before the primary call). */
  primaryOk: boolean | null;
  /** When memshift saw the primary acknowledge it, kept when a process handed it over or gave it back (null: not seen). */
  ackedAt: Date | null;
  /** An earlier attempt may have reached the secondary and its outcome is unknown: look it up before sending. */
  wasSent: boolean;
  /** Its storer recorded its primary's outcome as unknown (markUnknown): its agent was answered an error. */
  primaryUnknown: boolean;
  /** When this process read the row (for a claim: when its lease began, near enough). */
  claimedAt: number;
  /**
   * A time (this process's clock) by which every earlier attempt of the write, and its storer's primary call, was
   * sent: the lease or retry time the claim found run out, else the claim's own time. Each is sent under a claim
   * that ran until then, so a barrier of pings begun later finds none of them still queued at a backend.
   */
  sentBy: number;
  status: OutboxStatus;
  /** Attempts so far, the current one included once claimed. */
  attempts: number;
  nextAttemptAt: Date;
  lastError: string | null;
  /** Who holds it (inflight, or pending not yet claimed: its storer) or applied it (done). */
  owner: string | null;
  updatedAt: Date;
}

/** The action of a row that holds its key for a repair or the backfill (hold.ts): never sent, no write of an agent's. */
export const HOLD_ACTION = 'memshift.hold';

/** Landed writes recentAdds looks at by default: a store behind its replies by more than this is not waited for. */
const LANDED_LATELY_MS = 10_000;

/** A finished write's request: emptied (the column stays NOT NULL). */
const SCRUBBED = `'\\x'::bytea`;

const COLUMNS =
  'id, service, key, seq, action, side, request, effect, status, attempts, next_attempt_at, owner, last_error, created_at, updated_at, primary_ok, primary_unknown, acked_at';

/**
 * A new row's claim columns: pending, or (owner `o` not null) already claimed by its storer, who will send it
 * without another statement: it counts as possibly sent from the start, so whoever takes it after a crash looks it up first.
 */
const CLAIMED_BY = (o: string) =>
  `CASE WHEN ${o} IS NULL THEN 'pending' ELSE 'inflight' END, COALESCE(${o}, $12), CASE WHEN ${o} IS NULL THEN 0 ELSE 1 END, ${o} IS NOT NULL`;

/** A write of row `t` (`t.` or '') whose agent may have been told it applied: no storer marked its primary's outcome unknown, nor refused. */
const TOLD = (t: string) => `NOT ${t}primary_unknown AND ${t}primary_ok IS NOT FALSE`;
/**
 * A write of row `t` that the key's later writes to its side wait for (copying): one TOLD, or a clear whose outcome on
 * its primary is unknown, as copied after them it would empty the side of them (found applied once they were made there
 * first, it emptied legacy of an acknowledged write: `test/outbox/cleared-since.test.ts`).
 */
const AHEAD_OF_LATER = (t: string) => `(NOT ${t}primary_unknown OR ${t}effect = 'clears') AND ${t}primary_ok IS NOT FALSE`;

/**
 * Returned by an insert: whether the key has writes on their way to the side the new intent's write goes to first
 * (the other side), counted as copying() counts them. Writes of a key go first to one side but about a turn, when a
 * replica that has not yet seen it writes first to the side the other replicas' copies are on their way to. A
 * rewrite's hold (a backfill's, a repair's) is no copy: live writes are not held up for it.
 */
const RETURNING_AHEAD = `RETURNING id, EXISTS (SELECT 1 FROM outbox o WHERE o.open AND ${AHEAD_OF_LATER('o.')}
   AND o.service = outbox.service AND o.key = outbox.key AND o.side <> outbox.side AND o.action <> '${HOLD_ACTION}') AS ahead`;

/**
 * Draws the key's next seq under its outbox_keys row lock, then stores the intent; the same id twice is a
 * no-op. Its storer holds it for $8 ms (nobody else takes it while its primary call may be under way), as its
 * claim when $11 names the storer. A pending row names its storer $12 as owner (null: none), for OWNER_GONE.
 */
const INSERT = `WITH k AS (
   INSERT INTO outbox_keys (service, key, last_seq) VALUES ($2, $3, nextval('outbox_seq'))
   ON CONFLICT (service, key) DO UPDATE SET last_seq = nextval('outbox_seq')
   RETURNING last_seq)
 INSERT INTO outbox (id, service, key, seq, action, side, request, created_at, next_attempt_at, primary_ok, effect, status, owner, attempts, sent)
 SELECT $1, $2, $3, k.last_seq, $4, $5, $6, $7, now() + make_interval(secs => $8::double precision / 1000), $9, $10, ${CLAIMED_BY('$11::text')} FROM k
 ON CONFLICT (id) DO NOTHING
 ${RETURNING_AHEAD}`;
const insertParams = (i: OutboxIntent, leaseMs: number, primaryOk: boolean | null, owner: string | null, storer: string | null) => [
  i.id,
  i.service,
  i.key,
  i.action,
  i.side,
  i.raw,
  i.createdAt,
  leaseMs,
  primaryOk,
  i.effect,
  owner,
  storer,
];

/**
 * INSERT for many intents of distinct keys, in one statement (one parse, one round trip): each key's seq drawn
 * under its outbox_keys row lock, as INSERT does. A key twice would be refused (one row updated twice).
 */
const INSERT_DISTINCT = `WITH i AS (
   SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::timestamptz[], $8::boolean[], $9::text[], $11::text[])
     WITH ORDINALITY AS t(id, service, key, action, side, request, created_at, primary_ok, effect, owner, n)),
 k AS (
   INSERT INTO outbox_keys (service, key, last_seq) SELECT service, key, nextval('outbox_seq') FROM i ORDER BY n
   ON CONFLICT (service, key) DO UPDATE SET last_seq = nextval('outbox_seq')
   RETURNING service, key, last_seq)
 INSERT INTO outbox (id, service, key, seq, action, side, request, created_at, next_attempt_at, primary_ok, effect, status, owner, attempts, sent)
 SELECT i.id, i.service, i.key, k.last_seq, i.action, i.side, i.request, i.created_at,
        now() + make_interval(secs => $10::double precision / 1000), i.primary_ok, i.effect, ${CLAIMED_BY('i.owner')}
 FROM i JOIN k ON k.service = i.service AND k.key = i.key ORDER BY i.n
 ON CONFLICT (id) DO NOTHING
 ${RETURNING_AHEAD}`;

type Ahead = { id: string; ahead: boolean };
const aheadIds = (rows: readonly Ahead[]): Set<string> => new Set(rows.filter((r) => r.ahead).map((r) => r.id));

/**
 * A row `o` that may be taken: pending or inflight, and due (a retry's time come, a lease run out) or one of
 * the ids in the query's `known` parameter (the caller's own writes whose primary answered).
 * Lookups by id never say `open`: that keeps the partial indexes (migration outbox_open_column) out of their plans.
 */
const claimable = (known: string) => `o.status IN ('pending', 'inflight') AND (o.next_attempt_at <= now() OR o.id = ANY(${known}::uuid[]))`;

/**
 * Row `o` is held (a claim, or a storer's hold on its intent) by an owner whose lock (owner-lock.ts) is gone, since
 * at least $5 ms (its primary calls' budget: whatever it sent has ended by then): the owner died, and the row need not
 * wait out its lease. Owners that hold no lock (a replica of an earlier version) are left to their leases.
 */
const OWNER_GONE = `(o.owner LIKE '${LOCKED_PREFIX}%' AND o.updated_at <= now() - make_interval(secs => $5::double precision / 1000)
  AND NOT ${ownerLockHeld('o.owner')})`;
const O_COLUMNS = COLUMNS.split(', ')
  .map((c) => `o.${c}`)
  .join(', ');
/**
 * Claims the rows of CTE `cand` (id, sent, held) for owner $1 and lease $2 ms, returning them with whether an earlier
 * attempt was left unknown. From the claim on, an attempt may be sent: `sent` stays set unless its outcome is recorded.
 * A held row (its storer's claim, see CLAIMED_BY) was counted as an attempt when stored.
 */
const TAKE = `
  UPDATE outbox o
  SET status = 'inflight', owner = $1, attempts = o.attempts + CASE WHEN cand.held THEN 0 ELSE 1 END, sent = true,
      next_attempt_at = now() + make_interval(secs => $2::double precision / 1000), updated_at = now()
  FROM cand WHERE o.id = cand.id
  RETURNING ${O_COLUMNS}, cand.sent AS was_sent, cand.due_ago_ms`;

/** How long ago row o's lease or retry time ran out (0 if it has not): see OutboxRow.sentBy. */
const DUE_AGO = `GREATEST(0, EXTRACT(EPOCH FROM now() - o.next_attempt_at) * 1000) AS due_ago_ms`;

/**
 * Claims due key heads: $1 owner, $2 lease ms, $3 limit, $4 services, $5 OWNER_GONE's ms (the poll). The heads are
 * found a key at a time, each the first open row past the last key in the index (a skip scan): reading every open
 * row instead, a backlog behind a hung side (thousands of rows on a few keys) cost each poll 100-200 ms of the
 * store's CPU, taken from the writes being acknowledged. The cost is the other way round where each key has one
 * open write: about 8 µs a key (11 ms a poll at 1,000 keys, 84 ms at 10,000, where reading the rows took 0.5 and
 * 9 on an idle store); a backlog is the writes of the agents' sessions, far more of them than keys. Exported so a
 * test can check its plan.
 */
export const CLAIM = `WITH RECURSIVE heads AS (
     SELECT f.id, f.service, f.key FROM unnest($4::text[]) AS s(service),
       LATERAL (SELECT o.id, o.service, o.key FROM outbox o WHERE o.open AND o.service = s.service ORDER BY o.key, o.seq LIMIT 1) f
     UNION ALL
     SELECT n.id, n.service, n.key FROM heads h,
       LATERAL (SELECT o.id, o.service, o.key FROM outbox o WHERE o.open AND o.service = h.service AND o.key > h.key
                ORDER BY o.key, o.seq LIMIT 1) n),
   cand AS (
     -- By the heads' ids as an array: joined, the planner takes the recursion for many rows and reads the table whole.
     SELECT o.id, o.sent, false AS held, ${DUE_AGO} FROM outbox o
     WHERE o.id = ANY (ARRAY(SELECT id FROM heads)) AND o.status IN ('pending', 'inflight') AND (o.next_attempt_at <= now() OR ${OWNER_GONE})
     ORDER BY o.next_attempt_at
     LIMIT $3
     FOR UPDATE OF o SKIP LOCKED)
   ${TAKE}`;

/** Row `o` is one of the ids `held` (the caller stored them claimed and has not attempted them) and still its own. */
const heldBy = (held: string) => `(o.id = ANY(${held}::uuid[]) AND o.owner = $1 AND o.status = 'inflight')`;
/**
 * After CTE `head` (ids), claims each head that is claimable or held, as CTE `claimed` (TAKE's columns). A held head
 * with a lease of at least $2 ms left is taken as it is: the statement writes nothing for it (no WAL flush waited
 * for). One held with less is taken again, and says it was not sent: its storer knows it never sent it.
 */
const claimHeads = (known: string, held: string) => `
   kept AS (
     SELECT o.id FROM outbox o JOIN head h ON o.id = h.id
     WHERE ${heldBy(held)} AND o.next_attempt_at >= now() + make_interval(secs => $2::double precision / 1000)),
   cand AS (
     SELECT o.id, o.sent AND NOT ${heldBy(held)} AS sent, ${heldBy(held)} AS held, ${DUE_AGO} FROM outbox o JOIN head h ON o.id = h.id
     WHERE (${claimable(known)} OR ${heldBy(held)}) AND o.id NOT IN (SELECT id FROM kept) FOR UPDATE OF o SKIP LOCKED),
   taken AS (${TAKE}),
   claimed AS (SELECT * FROM taken UNION ALL SELECT ${O_COLUMNS}, false AS was_sent, 0 AS due_ago_ms FROM outbox o JOIN kept ON o.id = kept.id)`;

/**
 * Claims the heads of the keys ($4 services, $5 keys, pairwise) for owner $1 and $2 ms, each when due or among the
 * known ids $3 or the held ids $6; one statement for the pumps of several keys. A subquery per key, so its key is a
 * condition of the index scan whatever the planner thinks of the sizes. Exported, like COMPLETE_AND_NEXT, so a test
 * can check its plan.
 */
export const CLAIM_KEYS = `WITH k AS (SELECT * FROM unnest($4::text[], $5::text[]) AS k(service, key)),
   head AS (
     SELECT (SELECT o.id FROM outbox o WHERE o.service = k.service AND o.key = k.key AND o.open ORDER BY o.seq LIMIT 1) AS id
     FROM k),
   ${claimHeads('$3', '$6')}
   SELECT * FROM claimed`;

/**
 * Finishes the writes $3 for owner $1, each as its $5 ('done', or 'dropped' with reason $6), and claims each one's
 * key's next head for $2 ms when due or among the known ids $4 or the held ids $7; one statement for a batch of
 * applied writes (at most one per key). A finished write keeps its effect, not its request: users' text stays in the
 * outbox only while it is on its way.
 */
export const COMPLETE_AND_NEXT = `WITH f AS (SELECT * FROM unnest($3::uuid[], $5::text[], $6::text[]) AS f(id, status, reason)),
   fin AS (
     UPDATE outbox o SET status = f.status, last_error = f.reason, primary_ok = (f.status = 'done'), sent = false, updated_at = now(),
       request = ${SCRUBBED}
     FROM f WHERE o.id = f.id AND o.owner = $1 AND o.status = 'inflight'
     RETURNING o.id, o.service, o.key),
   head AS (
     -- The statement's snapshot still shows the finished row open: it is left out by id. A subquery per
     -- finished row, so its key is a condition of the index scan whatever the planner thinks of the sizes.
     SELECT (SELECT o.id FROM outbox o
             WHERE o.service = fin.service AND o.key = fin.key AND o.id <> fin.id AND o.open
             ORDER BY o.seq LIMIT 1) AS id
     FROM fin),
   ${claimHeads('$4', '$7')}
   SELECT (SELECT coalesce(array_agg(id::text), '{}') FROM fin) AS completed, claimed.* FROM (SELECT 1) one LEFT JOIN claimed ON true`;

/**
 * Settings of the connections the outbox's statements run on. Every statement finds its rows by id or by key
 * through an index; a planner whose statistics still describe the table as it was at the last analyze (empty,
 * at a start or after a quiet spell) scans it whole instead, on every claim and completion while a burst makes
 * it grow (1 to 5 ms a statement at 5,000 rows, most of the store's CPU, until autovacuum's next analyze). And
 * each is planned once per connection (`named`): planning these CTEs costs several times running them.
 */
export const SESSION_SETTINGS: Settings = [
  ['enable_seqscan', 'off'],
  ['plan_cache_mode', 'force_generic_plan'],
];

/** Finished rows one purge statement deletes at most. */
export const PURGE_BATCH = 5_000;

/** A statement prepared once per connection (see SESSION_SETTINGS). */
const named = (name: string, text: string, values: unknown[]): pg.QueryConfig => ({ name, text, values });

/** A claimed write to finish: applied (`done`) or never applied by its primary (`dropped`, with the reason). */
export interface Completion {
  id: string;
  /** The caller's own writes of the key whose primary answered: its next head is taken even before it is due. */
  known: readonly string[];
  /** Of those, the ones it stored claimed and has not attempted (see CLAIMED_BY). */
  held?: readonly string[];
  end: { status: 'done' } | { status: 'dropped'; reason: string };
}

/** An intent to store, with what is known of its primary, its storer's claim if any, and its own lease if not the batch's. */
export interface Storable {
  intent: OutboxIntent;
  primaryOk: boolean | null;
  owner?: string | null;
  leaseMs?: number;
}

/** `rows` cut, in order, into runs of distinct keys sharing one lease (`leaseMs` where a row names none). */
function distinctRuns(rows: readonly Storable[], leaseMs: number): { rows: Storable[]; leaseMs: number }[] {
  const runs: { rows: Storable[]; leaseMs: number; keys: Set<string> }[] = [];
  for (const r of rows) {
    const [key, lease] = [`${r.intent.service}\u0000${r.intent.key}`, r.leaseMs ?? leaseMs];
    let last = runs.at(-1);
    if (!last || last.leaseMs !== lease || last.keys.has(key)) runs.push((last = { rows: [], leaseMs: lease, keys: new Set() }));
    last.rows.push(r);
    last.keys.add(key);
  }
  return runs;
}

export class OutboxTable {
  /** `storer`: the owner named on the pending rows this table stores (its lock tells when it died; see OWNER_GONE). */
  constructor(
    private readonly pool: pg.Pool,
    private readonly storer: string | null = null,
  ) {}

  /**
   * Stores an intent as pending behind the key's earlier writes. Idempotent on the intent's id. `primaryOk`
   * null: stored before the primary call, held by its storer for `leaseMs` (nobody else takes it meanwhile);
   * once the lease ran out it is due, and whoever takes it first finds out whether the primary applied it.
   * `owner`: the storer, claiming it as it stores it (see CLAIMED_BY); null: pending. Resolves with whether the key
   * has writes on their way to the other side (RETURNING_AHEAD).
   */
  async insert(i: OutboxIntent, leaseMs: number, primaryOk: boolean | null, owner: string | null = null): Promise<boolean> {
    const { rows } = await this.pool.query<Ahead>(named('outbox-insert', INSERT, insertParams(i, leaseMs, primaryOk, owner, this.storer)));
    return rows[0]?.ahead === true;
  }

  /**
   * insert() for many intents of distinct keys (concurrent writes), in one statement; `owners` pairwise with them.
   * Resolves with the ids of those whose key has writes on their way to the other side.
   */
  async insertDistinct(
    intents: readonly OutboxIntent[],
    leaseMs: number,
    primaryOk: boolean | null,
    owners: readonly (string | null)[] = intents.map(() => null),
  ): Promise<Set<string>> {
    const rows = intents.map((intent, n) => ({ intent, primaryOk, owner: owners[n] ?? null }));
    return aheadIds((await this.pool.query<Ahead>(named('outbox-insert-distinct', INSERT_DISTINCT, this.distinctParams(rows, leaseMs)))).rows);
  }

  /** INSERT_DISTINCT's parameters: the intents' columns, pairwise. */
  private distinctParams(rows: readonly Storable[], leaseMs: number): unknown[] {
    const column = <T>(f: (r: Storable) => T): T[] => rows.map(f);
    return [
      column((r) => r.intent.id),
      column((r) => r.intent.service),
      column((r) => r.intent.key),
      column((r) => r.intent.action),
      column((r) => r.intent.side),
      column((r) => r.intent.raw),
      column((r) => r.intent.createdAt),
      column((r) => r.primaryOk),
      column((r) => r.intent.effect),
      leaseMs,
      column((r) => r.owner ?? null),
      this.storer,
    ];
  }

  /**
   * insert() for many, in order, in one transaction (one WAL flush): how held intents catch up. An intent's own
   * `leaseMs` stands for the batch's. Resolves as insertDistinct.
   */
  async insertAll(intents: readonly Storable[], leaseMs: number): Promise<Set<string>> {
    return inTransaction(this.pool, async (client) => {
      const rows: Ahead[] = [];
      // A statement per run of distinct keys and one lease, in order: a key's later write goes in a later statement, and
      // an outage's backlog (a few agents' keys, each written many times) takes a round trip per run, not per write.
      for (const run of distinctRuns(intents, leaseMs))
        rows.push(...(await client.query<Ahead>(named('outbox-insert-distinct', INSERT_DISTINCT, this.distinctParams(run.rows, run.leaseMs)))).rows);
      return aheadIds(rows);
    });
  }

  /**
   * Claims up to `limit` due writes that head their key (no earlier pending or inflight write of that key),
   * for `leaseMs`. SKIP LOCKED keeps replicas from claiming one row twice; the head rule keeps each key's
   * writes in order. A lease that ran out makes the row due again, as does its owner's lock gone `ownerGoneMs` after
   * its claim or store (its owner died: OWNER_GONE).
   */
  async claim(q: { owner: string; leaseMs: number; limit: number; services: readonly ServiceName[]; ownerGoneMs: number }): Promise<OutboxRow[]> {
    // Heads are picked from the snapshot, then locked: a head someone else holds is skipped, never its successor.
    const { rows } = await this.pool.query(named('outbox-claim', CLAIM, [q.owner, q.leaseMs, q.limit, q.services, q.ownerGoneMs]));
    return rows.map(rowOf);
  }

  /**
   * Claims the heads of these keys (one row each at most), each when due or when its id is in `known` (the
   * caller's own write, its primary answered), even before it is due; one of `held` (stored claimed by the
   * caller) is taken without a write while its lease lasts.
   */
  async claimKeys(
    owner: string,
    leaseMs: number,
    keys: readonly { service: ServiceName; key: string }[],
    known: readonly string[] = [],
    held: readonly string[] = [],
  ): Promise<OutboxRow[]> {
    const { rows } = await this.pool.query(
      named('outbox-claim-keys', CLAIM_KEYS, [owner, leaseMs, known, keys.map((k) => k.service), keys.map((k) => k.key), held]),
    );
    return rows.map(rowOf);
  }

  /**
   * Finishes claimed writes (their owner kept: who applied them), at most one per key, and in the same round trip
   * claims each one's key's next write if it is now the head and due or known. `completed`: the ids whose claim
   * still held; `next`: the claimed writes (one per key at most).
   */
  async completeAll(owner: string, leaseMs: number, items: readonly Completion[]): Promise<{ completed: Set<string>; next: OutboxRow[] }> {
    const { rows } = await this.pool.query(
      named('outbox-complete', COMPLETE_AND_NEXT, [
        owner,
        leaseMs,
        items.map((c) => c.id),
        items.flatMap((c) => c.known),
        items.map((c) => c.end.status),
        items.map((c) => ('reason' in c.end ? c.end.reason : null)),
        items.flatMap((c) => c.held ?? []),
      ]),
    );
    return { completed: new Set(rows[0]!.completed as string[]), next: rows.filter((r) => r.id).map(rowOf) };
  }

  /**
   * Records that the primaries of these stored writes applied them (acknowledged `at`), their copies not landed yet: a
   * process taking one over (its storer killed) copies it as such, and stamps it so, without looking its primary up.
   */
  async markApplied(acks: readonly { id: string; at: Date }[]): Promise<void> {
    await this.pool.query(
      `UPDATE outbox o SET primary_ok = true, acked_at = COALESCE(o.acked_at, a.at)
       FROM unnest($1::uuid[], $2::timestamptz[]) AS a(id, at) WHERE o.id = a.id AND o.open AND o.primary_ok IS NULL`,
      [acks.map((a) => a.id), acks.map((a) => a.at)],
    );
  }

  /** Its storer's primary call left the write's outcome unknown: a look-up comes first, so it is not counted as on its way (copying). */
  async markUnknown(id: string): Promise<void> {
    await this.pool.query(`UPDATE outbox SET primary_unknown = true WHERE id = $1 AND open AND primary_ok IS NULL`, [id]);
  }

  /**
   * Drops a write its storer's primary refused (never attempted: still the storer's pending intent, or its held claim,
   * that of a killed earlier process too, whose refusal outbox.heldFile kept: its lock is gone).
   */
  async drop(id: string, reason: string, storer: string): Promise<void> {
    await this.pool.query(
      `UPDATE outbox o SET status = 'dropped', primary_ok = false, last_error = $2, updated_at = now(), request = ${SCRUBBED}
       WHERE id = $1 AND (status = 'pending' OR (status = 'inflight' AND (owner = $3 OR (owner LIKE '${LOCKED_PREFIX}%' AND NOT ${ownerLockHeld('o.owner')}))))`,
      [id, reason, storer],
    );
  }

  /** Hands a claimed write back untried (shutdown): due after `delayMs`, its attempt not counted, its earlier unknown kept. */
  async unclaim(row: OutboxRow, owner: string, delayMs: number): Promise<boolean> {
    const r = await this.pool.query(
      `UPDATE outbox SET status = 'pending', attempts = attempts - 1, sent = $3, owner = NULL, updated_at = now(),
         next_attempt_at = now() + make_interval(secs => $4::double precision / 1000)
       WHERE id = $1 AND owner = $2 AND status = 'inflight'`,
      [row.id, owner, row.wasSent, delayMs],
    );
    return r.rowCount === 1;
  }

  /**
   * Makes a storer's writes that it could not take itself due for whoever takes their key next, each with what the
   * storer knows of its primary (null: unknown, so the taker looks it up first). `heldBy`: the storer, when it
   * stored the write claimed (see CLAIMED_BY); it never sent it, so the claim is given up as unsent. `ackedAt`: when
   * the storer saw the primary acknowledge it, the time its copy carries.
   */
  async handOver(writes: { id: string; primaryOk: boolean | null; heldBy: string | null; ackedAt: Date | null }[]): Promise<void> {
    await this.pool.query(
      `UPDATE outbox o SET primary_ok = COALESCE(o.primary_ok, h.primary_ok), acked_at = COALESCE(o.acked_at, h.acked_at),
         next_attempt_at = now(), updated_at = now(), status = 'pending', owner = NULL, attempts = 0, sent = (o.status = 'pending' AND o.sent)
       FROM unnest($1::uuid[], $2::boolean[], $3::text[], $4::timestamptz[]) AS h(id, primary_ok, held_by, acked_at)
       WHERE o.id = h.id AND ((o.status = 'pending' AND o.attempts = 0) OR (o.status = 'inflight' AND o.owner = h.held_by))`,
      [writes.map((w) => w.id), writes.map((w) => w.primaryOk), writes.map((w) => w.heldBy), writes.map((w) => w.ackedAt)],
    );
  }

  /** Keeps a claim a further `leaseMs` (a look-up and an attempt may together outlast one lease). */
  async extend(id: string, owner: string, leaseMs: number): Promise<boolean> {
    const r = await this.pool.query(
      `UPDATE outbox SET next_attempt_at = now() + make_interval(secs => $3::double precision / 1000)
       WHERE id = $1 AND owner = $2 AND status = 'inflight'`,
      [id, owner, leaseMs],
    );
    return r.rowCount === 1;
  }

  /** Makes the waiting retries towards `side` due now: it has just answered again after failing. */
  async wake(side: Side): Promise<void> {
    await this.pool.query(
      `UPDATE outbox SET next_attempt_at = now() WHERE open AND status = 'pending' AND attempts > 0 AND side = $1 AND next_attempt_at > now()`,
      [side],
    );
  }

  /**
   * Gives a claimed write back after an attempt that did not finish it: due again after `delayMs`, or parked
   * as dead. `sent`: its outcome is unknown (the next attempt looks it up first). `primaryOk`: what is now
   * known of the primary. An attempt that was never sent (a full or open leg) is not counted. `ackedAt`: when the
   * primary acknowledged it, if this process saw that (kept for whoever attempts it next, as by handOver).
   */
  async release(
    id: string,
    owner: string,
    r: { park: boolean; delayMs: number; error: string; sent: boolean; primaryOk: boolean | null; counted: boolean; ackedAt?: Date | null },
  ): Promise<boolean> {
    const res = await this.pool.query(
      `UPDATE outbox SET status = $3, next_attempt_at = now() + make_interval(secs => $4::double precision / 1000),
         last_error = $5, sent = $6, primary_ok = $7, attempts = attempts - (CASE WHEN $8 THEN 0 ELSE 1 END), owner = NULL,
         acked_at = COALESCE(acked_at, $9), updated_at = now()
       WHERE id = $1 AND owner = $2 AND status = 'inflight'`,
      [id, owner, r.park ? 'dead' : 'pending', r.delayMs, r.error, r.sent, r.primaryOk, r.counted, r.ackedAt ?? null],
    );
    return res.rowCount === 1;
  }

  /**
   * Of these writes held in memory while the store was away and stored since (each by id, with when its primary
   * acknowledged it), the keys where a write towards the same side created after that acknowledgement is placed
   * before it in the key's order: another replica's, sent by the agent after its answer for the held one.
   */
  async overtaken(held: readonly { id: string; since: Date }[]): Promise<{ service: string; key: string }[]> {
    const { rows } = await this.pool.query<{ service: string; key: string }>(
      `SELECT DISTINCT mine.service, mine.key
         FROM unnest($1::uuid[], $2::timestamptz[]) AS h(id, since)
         JOIN outbox mine ON mine.id = h.id
         JOIN outbox o ON o.service = mine.service AND o.key = mine.key AND o.side = mine.side AND o.seq < mine.seq AND o.created_at > h.since
          AND o.action <> $3`,
      [held.map((h) => h.id), held.map((h) => h.since), HOLD_ACTION],
    );
    return rows;
  }

  /** The key's copies towards `side` parked (dead) after their primary applied them, oldest first. */
  async parkedApplied(service: ServiceName, key: string, side: Side): Promise<{ id: string; request: Buffer }[]> {
    const { rows } = await this.pool.query<{ id: string; request: Buffer }>(
      `SELECT id, request FROM outbox WHERE status = 'dead' AND service = $1 AND key = $2 AND side = $3 AND primary_ok ORDER BY seq`,
      [service, key, side],
    );
    return rows;
  }

  /** The key's copies towards `side` parked while their primary's outcome was unknown (dead, primary_ok null), oldest first. */
  async parkedUnknown(service: ServiceName, key: string, side: Side): Promise<{ id: string; request: Buffer }[]> {
    const { rows } = await this.pool.query<{ id: string; request: Buffer }>(
      `SELECT id, request FROM outbox WHERE status = 'dead' AND service = $1 AND key = $2 AND side = $3 AND primary_ok IS NULL AND action <> $4 ORDER BY seq`,
      [service, key, side, HOLD_ACTION],
    );
    return rows;
  }

  /** Marks parked copies done (`reason` says why): their writes found on both sides. How many still parked were. */
  async settleParked(ids: string[], reason: string): Promise<number> {
    const r = await this.pool.query(
      `UPDATE outbox SET status = 'done', primary_ok = true, last_error = $2, updated_at = now(), request = ${SCRUBBED}
       WHERE id = ANY($1::uuid[]) AND status = 'dead'`,
      [ids, reason],
    );
    return r.rowCount ?? 0;
  }

  /**
   * The ids of the key's writes that added an element (ActionSpec.addsElement) on `side` in the last `withinMs`,
   * since its last clear or hold within them (a hold's rewrite wrote the key whole): what a store written behind its
   * replies may not show yet.
   * Read through the index of finished rows by time (no index has the key of finished rows): the window bounds it.
   */
  async recentAdds(service: ServiceName, key: string, side: Side, withinMs = LANDED_LATELY_MS): Promise<string[]> {
    const { rows } = await this.pool.query<{ id: string; effect: string | null; action: string }>(
      `SELECT id, effect, action FROM outbox
        WHERE status = 'done' AND updated_at > now() - make_interval(secs => $4::double precision / 1000)
          AND service = $1 AND key = $2 AND side = $3
        ORDER BY seq`,
      [service, key, side, withinMs],
    );
    const last = rows.findLastIndex((r) => r.effect === 'clears' || r.action === HOLD_ACTION);
    // By action, not by the row's effect: that is what legacy's replies show (none of a contextual interaction).
    const adds = (action: string) => serviceOf(service).actions[action]?.addsElement === true;
    return rows.slice(last + 1).flatMap((r) => (adds(r.action) ? [r.id] : []));
  }

  /** Each key's last seq drawn so far (keys never written left out): every write of it stored by now is at or below it. */
  async lastSeqs(service: ServiceName, keys: readonly string[]): Promise<Map<string, number>> {
    const { rows } = await this.pool.query<{ key: string; last_seq: string }>(
      `SELECT key, last_seq FROM outbox_keys WHERE service = $1 AND key = ANY($2::text[])`,
      [service, keys],
    );
    return new Map(rows.map((r) => [r.key, Number(r.last_seq)]));
  }

  /** Of these keys, those with a write stored at or after `since` (rows kept outbox.retainDoneMs once done). */
  async writtenSince(service: ServiceName, keys: readonly string[], since: Date): Promise<Set<string>> {
    const { rows } = await this.pool.query<{ key: string }>(
      `SELECT DISTINCT key FROM outbox WHERE service = $1 AND key = ANY($2::text[]) AND created_at >= $3`,
      [service, keys, since],
    );
    return new Set(rows.map((r) => r.key));
  }

  /** Of these keys, those with a write towards `side` at or below its seq in `upTo` still open (not landed, not parked). */
  async openUpTo(service: ServiceName, side: Side, upTo: ReadonlyMap<string, number>): Promise<Set<string>> {
    const { rows } = await this.pool.query<{ key: string }>(
      `SELECT DISTINCT o.key FROM unnest($2::text[], $3::bigint[]) AS w(key, seq)
         JOIN outbox o ON o.open AND o.service = $1 AND o.key = w.key AND o.seq <= w.seq AND o.side = $4`,
      [service, [...upTo.keys()], [...upTo.values()], side],
    );
    return new Set(rows.map((r) => r.key));
  }

  /** Whether any write of the service towards `side` is open (sent or to be sent, by any replica; made `before`, if given). */
  async anyOpen(service: ServiceName, side: Side, before?: Date): Promise<boolean> {
    const { rows } = await this.pool.query<{ open: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM outbox WHERE open AND service = $1 AND side = $2 AND ($3::timestamptz IS NULL OR created_at < $3)) AS open`,
      [service, side, before ?? null],
    );
    return rows[0]!.open;
  }

  /**
   * Whether the key has a write towards `side` that has not landed there: open, or parked (a read served
   * from that side would miss it). Every replica's writes count.
   */
  async unlanded(service: ServiceName, key: string, side: Side): Promise<boolean> {
    const { rows } = await this.pool.query<{ busy: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM outbox WHERE open AND service = $1 AND key = $2 AND side = $3)
           OR EXISTS (SELECT 1 FROM outbox WHERE status = 'dead' AND service = $1 AND key = $2 AND side = $3) AS busy`,
      [service, key, side],
    );
    return rows[0]!.busy;
  }

  /**
   * Whether the key has a write towards `side` on its way there, open: its primary applied it, or its storer has not
   * said otherwise (a storer records its primary's success only when the write lands or is given back, and marks an
   * unknown outcome at once: markUnknown). One whose outcome was unknown does not count though found applied since
   * (its agent was told of an error, so it may land after later writes, and counting it would move or hold acknowledged
   * ones for it), but for a clear (AHEAD_OF_LATER).
   */
  copying(service: ServiceName, key: string, side: Side): Promise<boolean> {
    return this.unlandedWhere(AHEAD_OF_LATER(''), service, key, side, false);
  }

  /**
   * Whether `side` lacks a write of the key its agent may have been told of: one on its way there, or one parked. A clear
   * whose outcome is unknown does not count: its agent was told of an error, so the records before it may be read.
   */
  lacks(service: ServiceName, key: string, side: Side): Promise<boolean> {
    return this.unlandedWhere(TOLD(''), service, key, side, true);
  }

  /** Whether the key has a write towards `side`, of those `which` (TOLD...) holds, open or (`parked`) dead. */
  private async unlandedWhere(which: string, service: ServiceName, key: string, side: Side, parked: boolean): Promise<boolean> {
    const where = `${which} AND service = $1 AND key = $2 AND side = $3`;
    const { rows } = await this.pool.query<{ busy: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM outbox WHERE open AND ${where})
           OR ($4 AND EXISTS (SELECT 1 FROM outbox WHERE status = 'dead' AND ${where})) AS busy`,
      [service, key, side, parked],
    );
    return rows[0]!.busy;
  }

  /**
   * The key's other writes known applied on `side` (a legacy look-up counts them): finished, or still open
   * with `side` as their primary and the primary's success known. Newest first, at most `limit`.
   */
  async appliedOn(service: ServiceName, key: string, side: Side, exceptId: string, limit: number): Promise<AppliedWrite[]> {
    const { rows } = await this.pool.query<{ effect: string | null; request: Buffer; seq: string }>(
      `SELECT effect, request, seq FROM outbox
       WHERE service = $1 AND key = $2 AND id <> $4 AND (status = 'done' OR (open AND primary_ok AND side <> $3))
       ORDER BY seq DESC LIMIT $5`,
      [service, key, side, exceptId, limit],
    );
    return rows.map((r) => ({ effect: r.effect, request: r.request, seq: Number(r.seq) }));
  }

  /**
   * The effects of the key's writes stored after write `id` that may have landed on their primary (all but those
   * dropped: their primary failed them or never applied them). Those a clear's look-up counts on (legacy-lookup.ts
   * clearLanded); rows stored before effects were kept give their request to make it from.
   */
  async writtenAfter(service: ServiceName, key: string, id: string): Promise<AppliedWrite[]> {
    const { rows } = await this.pool.query<{ effect: string | null; request: Buffer; seq: string }>(
      `SELECT effect, request, seq FROM outbox
       WHERE service = $1 AND key = $2 AND status <> 'dropped' AND seq > (SELECT seq FROM outbox WHERE id = $3)`,
      [service, key, id],
    );
    return rows.map((r) => ({ effect: r.effect, request: r.request, seq: Number(r.seq) }));
  }

  /**
   * How long ago (ms) the newest clear of the key stored after write `id` was stored, of those written first to `side`
   * (their copy towards the other) and neither dropped nor left unknown there; null when there is none.
   */
  async clearedSince(service: ServiceName, key: string, id: string, side: Side): Promise<number | null> {
    const { rows } = await this.pool.query<{ age_ms: number | null }>(
      `SELECT extract(epoch FROM now() - max(created_at)) * 1000 AS age_ms FROM outbox
       WHERE service = $1 AND key = $2 AND side <> $4 AND effect = 'clears' AND status <> 'dropped' AND NOT primary_unknown
         AND seq > (SELECT seq FROM outbox WHERE id = $3)`,
      [service, key, id, side],
    );
    const age = rows[0]?.age_ms;
    return age === null || age === undefined ? null : Number(age);
  }

  async list(q: { statuses?: readonly OutboxStatus[]; service?: string; key?: string; limit?: number } = {}): Promise<OutboxRow[]> {
    const { rows } = await this.pool.query(
      `SELECT ${COLUMNS} FROM outbox
       WHERE status = ANY($1::text[]) AND ($2::text IS NULL OR service = $2) AND ($3::text IS NULL OR key = $3)
       ORDER BY service, key, seq
       LIMIT $4`,
      [q.statuses ?? OUTBOX_STATUSES, q.service ?? null, q.key ?? null, q.limit ?? 100],
    );
    return rows.map(rowOf);
  }

  /** Dead writes back to pending, due now, with a fresh attempt count (an unknown outcome is still looked up first); returns how many. */
  async retry(q: { ids?: string[]; service?: string } = {}): Promise<number> {
    const r = await this.pool.query(
      `UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = now(), updated_at = now()
       WHERE status = 'dead' AND ($1::uuid[] IS NULL OR id = ANY($1::uuid[])) AND ($2::text IS NULL OR service = $2)`,
      [q.ids?.length ? q.ids : null, q.service ?? null],
    );
    return r.rowCount ?? 0;
  }

  /**
   * Deletes finished writes (done and / or dead) last touched more than `olderThanMs` ago, PURGE_BATCH rows a
   * statement: one statement over a long backlog could outlast the pool's statement bound at every try, and the table
   * never shrink. At most `maxBatches` statements (default: until none is left); `more` when some are left.
   */
  async purge(q: {
    statuses: readonly ('done' | 'dead' | 'dropped')[];
    olderThanMs: number;
    maxBatches?: number;
  }): Promise<{ deleted: number; more: boolean }> {
    let deleted = 0;
    for (let batch = 0; batch < (q.maxBatches ?? Infinity); batch++) {
      const r = await this.pool.query(
        `DELETE FROM outbox WHERE id IN (
           SELECT id FROM outbox WHERE status = ANY($1::text[]) AND updated_at < now() - make_interval(secs => $2::double precision / 1000) LIMIT $3)`,
        [q.statuses, q.olderThanMs, PURGE_BATCH],
      );
      const n = r.rowCount ?? 0;
      deleted += n;
      if (n < PURGE_BATCH) {
        // Key rows only serialise seq draws; seq comes from one sequence, so dropping an idle key's row is safe.
        await this.pool.query(`DELETE FROM outbox_keys k WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.service = k.service AND o.key = k.key)`);
        return { deleted, more: false };
      }
    }
    return { deleted, more: true };
  }

  async stats(): Promise<{ depth: number; oldest: Date | null; parked: number }> {
    const { rows } = await this.pool.query<{ depth: string; oldest: Date | null; parked: string }>(
      `SELECT (SELECT count(*) FROM outbox WHERE open) AS depth,
              (SELECT min(created_at) FROM outbox WHERE open) AS oldest,
              (SELECT count(*) FROM outbox WHERE status = 'dead') AS parked`,
    );
    const r = rows[0]!;
    return { depth: Number(r.depth), oldest: r.oldest, parked: Number(r.parked) };
  }
}

function rowOf(r: Record<string, unknown>): OutboxRow {
  const now = Date.now();
  return {
    id: r.id as string,
    service: r.service as ServiceName,
    key: r.key as string,
    seq: Number(r.seq),
    action: r.action as string,
    side: r.side as Side,
    raw: r.request as Buffer,
    effect: (r.effect as string | null) ?? '',
    status: r.status as OutboxStatus,
    attempts: r.attempts as number,
    nextAttemptAt: r.next_attempt_at as Date,
    lastError: (r.last_error as string | null) ?? null,
    owner: (r.owner as string | null) ?? null,
    primaryOk: (r.primary_ok as boolean | null) ?? null,
    primaryUnknown: r.primary_unknown === true,
    ackedAt: (r.acked_at as Date | null) ?? null,
    wasSent: r.was_sent === true,
    claimedAt: now,
    sentBy: now - Number(r.due_ago_ms ?? 0),
    createdAt: r.created_at as Date,
    updatedAt: r.updated_at as Date,
  };
}
