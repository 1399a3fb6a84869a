/**
 * The outbox table (migration "outbox"): storing intents, claiming due writes one key head at a time
 * across replicas, finishing them, and what the CLI and metrics ask of it.
 */
import type pg from 'pg';
import type { Side } from '../core/plan.js';
import type { ServiceName } from '../services/catalog.js';
import { inTransaction } from '../store/client.js';

export type OutboxStatus = 'pending' | 'inflight' | 'done' | 'dead';
export const OUTBOX_STATUSES: readonly OutboxStatus[] = ['pending', 'inflight', 'done', 'dead'];

/** A secondary write to record: its id is made by the caller, so storing it twice is harmless. */
export interface OutboxIntent {
  id: string;
  service: ServiceName;
  key: string;
  action: string;
  side: Side;
  /** The request as the agent sent it (after memshift's own rewrites). */
  raw: Buffer;
  createdAt: Date;
}

export interface OutboxRow extends OutboxIntent {
  seq: number;
  status: OutboxStatus;
  /** Attempts so far, the current one included once claimed. */
  attempts: number;
  nextAttemptAt: Date;
  lastError: string | null;
  /** Who holds it (inflight) or applied it (done). */
  owner: string | null;
  updatedAt: Date;
}

const COLUMNS = 'id, service, key, seq, action, side, request, status, attempts, next_attempt_at, owner, last_error, created_at, updated_at';

/** Draws the key's next seq under its outbox_keys row lock, then stores the intent; the same id twice is a no-op. */
const INSERT = `WITH k AS (
   INSERT INTO outbox_keys (service, key, last_seq) VALUES ($2, $3, nextval('outbox_seq'))
   ON CONFLICT (service, key) DO UPDATE SET last_seq = nextval('outbox_seq')
   RETURNING last_seq)
 INSERT INTO outbox (id, service, key, seq, action, side, request, created_at, next_attempt_at)
 SELECT $1, $2, $3, k.last_seq, $4, $5, $6, $7, now() + make_interval(secs => $8::double precision / 1000) FROM k
 ON CONFLICT (id) DO NOTHING`;
const insertParams = (i: OutboxIntent, leaseMs: number) => [i.id, i.service, i.key, i.action, i.side, i.raw, i.createdAt, leaseMs];

/**
 * A row `o` that may be taken: pending and due or never tried (its storer's first attempt), or inflight with its lease run out.
 * Lookups by id never say `open`: that keeps the partial indexes (migration outbox_open_column) out of their plans.
 */
const CLAIMABLE = `o.status IN ('pending', 'inflight') AND (o.next_attempt_at <= now() OR (o.status = 'pending' AND o.attempts = 0))`;
/** Claims the rows of CTE `cand` for owner $1 and lease $2 ms, returning them (built once: it runs per applied write). */
const TAKE = `
  UPDATE outbox o
  SET status = 'inflight', owner = $1, attempts = o.attempts + 1,
      next_attempt_at = now() + make_interval(secs => $2::double precision / 1000), updated_at = now()
  FROM cand WHERE o.id = cand.id
  RETURNING ${COLUMNS.split(', ').map((c) => `o.${c}`).join(', ')}`;

/**
 * Claims due key heads: $1 owner, $2 lease ms, $3 limit, $4 services, and with $5/$6 (service, key) that
 * key's head only. Exported, like COMPLETE_AND_NEXT, so a test can check its plan.
 */
export const CLAIM = `WITH heads AS (
     SELECT DISTINCT ON (service, key) id FROM outbox
     WHERE open AND service = ANY($4::text[])
       AND ($5::text IS NULL OR (service = $5 AND key = $6))
     ORDER BY service, key, seq),
   cand AS (
     SELECT o.id FROM outbox o JOIN heads h ON o.id = h.id
     WHERE ${CLAIMABLE} AND ($5::text IS NOT NULL OR o.next_attempt_at <= now())
     ORDER BY o.next_attempt_at
     LIMIT $3
     FOR UPDATE OF o SKIP LOCKED)
   ${TAKE}`;

/** Marks $3 done for owner $1 and claims its key's next head for $2 ms; runs once per applied write. */
export const COMPLETE_AND_NEXT = `WITH fin AS (
     UPDATE outbox SET status = 'done', last_error = NULL, updated_at = now()
     WHERE id = $3 AND owner = $1 AND status = 'inflight'
     RETURNING service, key),
   head AS (
     -- The statement's snapshot still shows the finished row open: it is left out by id. A subquery per
     -- finished row, so its key is a condition of the index scan whatever the planner thinks of the sizes.
     SELECT (SELECT o.id FROM outbox o
             WHERE o.service = fin.service AND o.key = fin.key AND o.id <> $3 AND o.open
             ORDER BY o.seq LIMIT 1) AS id
     FROM fin),
   cand AS (SELECT o.id FROM outbox o JOIN head h ON o.id = h.id WHERE ${CLAIMABLE} FOR UPDATE OF o SKIP LOCKED),
   next AS (${TAKE})
   SELECT (SELECT count(*) FROM fin) AS completed, next.* FROM (SELECT 1) one LEFT JOIN next ON true`;

export class OutboxTable {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * Stores an intent as pending behind the key's earlier writes. Idempotent on the intent's id. Its first
   * attempt is left to the process that stored it (claim with `key`) for `leaseMs`; after that any poll may take it.
   */
  async insert(i: OutboxIntent, leaseMs: number): Promise<void> {
    await this.pool.query(INSERT, insertParams(i, leaseMs));
  }

  /** insert() for many, in order, in one transaction (one WAL flush): how held intents catch up. */
  async insertAll(intents: readonly OutboxIntent[], leaseMs: number): Promise<void> {
    await inTransaction(this.pool, async (client) => {
      for (const i of intents) await client.query(INSERT, insertParams(i, leaseMs));
    });
  }

  /**
   * Claims up to `limit` due writes that head their key (no earlier pending or inflight write of that key),
   * for `leaseMs`. SKIP LOCKED keeps replicas from claiming one row twice; the head rule keeps each key's
   * writes in order. A lease that ran out (its owner died) makes the row due again. With `key`, the key's
   * head is taken even before it is due when it was never attempted: that is its storer's first attempt.
   */
  async claim(q: { owner: string; leaseMs: number; limit: number; services: readonly ServiceName[]; key?: { service: ServiceName; key: string } }): Promise<OutboxRow[]> {
    // Heads are picked from the snapshot, then locked: a head someone else holds is skipped, never its successor.
    const { rows } = await this.pool.query(
      CLAIM,
      [q.owner, q.leaseMs, q.limit, q.services, q.key?.service ?? null, q.key?.key ?? null],
    );
    return rows.map(rowOf);
  }

  /**
   * Marks a claimed write applied (its owner kept: who applied it) and, in the same round trip, claims the
   * key's next write if it is now the head. `completed` is false when the claim had been lost.
   */
  async completeAndNext(id: string, owner: string, leaseMs: number): Promise<{ completed: boolean; next: OutboxRow | undefined }> {
    const { rows } = await this.pool.query(
      COMPLETE_AND_NEXT,
      [owner, leaseMs, id],
    );
    const r = rows[0]!;
    return { completed: Number(r.completed) === 1, next: r.id ? rowOf(r) : undefined };
  }

  /** Hands a claimed write back untried (shutdown): due now, its attempt not counted. */
  async unclaim(id: string, owner: string): Promise<boolean> {
    const r = await this.pool.query(
      `UPDATE outbox SET status = 'pending', attempts = attempts - 1, next_attempt_at = now(), owner = NULL, updated_at = now()
       WHERE id = $1 AND owner = $2 AND status = 'inflight'`,
      [id, owner],
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

  /** Gives a claimed write back after a failed attempt: due again after `delayMs`, or parked as dead. */
  async release(id: string, owner: string, r: { park: boolean; delayMs: number; error: string }): Promise<boolean> {
    const res = await this.pool.query(
      `UPDATE outbox SET status = $3, next_attempt_at = now() + make_interval(secs => $4::double precision / 1000),
         last_error = $5, owner = NULL, updated_at = now()
       WHERE id = $1 AND owner = $2 AND status = 'inflight'`,
      [id, owner, r.park ? 'dead' : 'pending', r.delayMs, r.error],
    );
    return res.rowCount === 1;
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

  /** Dead writes back to pending, due now, with a fresh attempt count; returns how many. */
  async retry(q: { ids?: string[]; service?: string } = {}): Promise<number> {
    const r = await this.pool.query(
      `UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = now(), updated_at = now()
       WHERE status = 'dead' AND ($1::uuid[] IS NULL OR id = ANY($1::uuid[])) AND ($2::text IS NULL OR service = $2)`,
      [q.ids?.length ? q.ids : null, q.service ?? null],
    );
    return r.rowCount ?? 0;
  }

  /** Deletes finished writes (done and / or dead) last touched more than `olderThanMs` ago; returns how many. */
  async purge(q: { statuses: readonly ('done' | 'dead')[]; olderThanMs: number }): Promise<number> {
    const r = await this.pool.query(
      `DELETE FROM outbox WHERE status = ANY($1::text[]) AND updated_at < now() - make_interval(secs => $2::double precision / 1000)`,
      [q.statuses, q.olderThanMs],
    );
    // Key rows only serialise seq draws; seq comes from one sequence, so dropping an idle key's row is safe.
    await this.pool.query(
      `DELETE FROM outbox_keys k WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.service = k.service AND o.key = k.key)`,
    );
    return r.rowCount ?? 0;
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
  return {
    id: r.id as string,
    service: r.service as ServiceName,
    key: r.key as string,
    seq: Number(r.seq),
    action: r.action as string,
    side: r.side as Side,
    raw: r.request as Buffer,
    status: r.status as OutboxStatus,
    attempts: r.attempts as number,
    nextAttemptAt: r.next_attempt_at as Date,
    lastError: (r.last_error as string | null) ?? null,
    owner: (r.owner as string | null) ?? null,
    createdAt: r.created_at as Date,
    updatedAt: r.updated_at as Date,
  };
}
