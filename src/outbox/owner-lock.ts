/**
 * An outbox owner's sign of life to the other replicas on its store: a session advisory lock named for the owner, on a
 * connection of its own. PostgreSQL lets it go when the process dies (its connection closed by the kernel at a kill -9,
 * or found silent within `lossSettings`), and another replica then takes over the writes the owner held once their
 * calls have had their time (table.ts OWNER_GONE), rather than at the end of their lease (30 s by default).
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { childLogger } from '../telemetry/log.js';
import { connectClient } from '../store/client.js';
import { withDeadline } from '../util/deadline.js';
import type { BoundedPoolConfig } from '../util/pg-url.js';

const log = childLogger('outbox.owner');

/** The advisory lock's first key: owners' locks apart from memshift's key locks and any other advisory lock. */
const OWNER_CLASS = 0x6d736b77;
/** Owner names that hold a lock start so: a replica of an earlier version, holding none, is taken over by its leases only. */
export const LOCKED_PREFIX = 'locked:';
/** The lock's second key, from the owner's name (a collision with a live owner only delays a takeover to the lease). */
const ownerKey = (owner: string) => `hashtext(${owner}) & 2147483647`;
/** pg_locks rows of owner locks (each names its owner's key in objid). */
const OWNER_LOCKS = `locktype = 'advisory' AND classid = ${OWNER_CLASS}::oid AND objsubid = 2`;
/** SQL: the owner named by the expression `owner` holds its lock in this database (it has not died). */
export const ownerLockHeld = (owner: string) => `(${ownerKey(owner)})::oid IN (
    SELECT objid FROM pg_locks WHERE ${OWNER_LOCKS} AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))`;
/** A new owner's name: host, process and a draw (two outboxes of one process differ). */
export const ownerName = () => `${LOCKED_PREFIX}${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;

/**
 * The lock's connection: one, kept while idle (the lock lives on it). Its heartbeat's answer is bounded by the
 * heartbeat (`beat`), on this process's running time, not node-postgres's `query_timeout`: a process resumed from a
 * pause (SIGSTOP) fired that timer before reading the answer that had come, dropped the connection, and so let go of
 * the lock it held, letting other replicas take its writes over while its sends went on.
 */
export const OWNER_POOL: BoundedPoolConfig = { max: 1, idleTimeoutMillis: 0, keepAlive: true, connectionTimeoutMillis: 2_000 };

/** Holds the lock, or takes it again on a new connection after the last one was lost. */
const HOLD = `SELECT CASE WHEN EXISTS (
    SELECT 1 FROM pg_locks WHERE pid = pg_backend_pid() AND ${OWNER_LOCKS} AND objid = (${ownerKey('$1')})::oid)
  THEN true ELSE pg_try_advisory_lock(${OWNER_CLASS}, ${ownerKey('$1')}) END AS ok`;

export class OwnerLock {
  /**
   * A heartbeat unanswered this long counts the lock as lost here: a third of the time the server gives a silent peer
   * (store.connectionLossMs) before it lets the lock go, so this process stops sending before anyone could take its
   * writes over. Only evidence counts: a process whose event loop stalled sent no heartbeat meanwhile, and its kernel
   * kept the connection (and the lock) alive.
   */
  private readonly lostAfterMs: number;
  /** The lock was taken, and the connection it lives on has not failed since. */
  private confirmed = false;
  /** When the heartbeat under way was sent. */
  private sentAt: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private warned = false;
  /** Lost since it was last held: its taking again is told. */
  private lost = false;

  /** `pool`: one connection of its own (the lock lives on it), with the loss settings of `lossMs`; ended by stop(). */
  constructor(
    private readonly pool: pg.Pool,
    readonly owner: string,
    private readonly lossMs: number,
  ) {
    this.lostAfterMs = lossMs / 3;
    // Its connection lost while idle: the lock went with it.
    pool.on('error', () => (this.confirmed = false));
  }

  /** Whether the lock is held as far as this process can tell: while not, other replicas may be taking its writes over. */
  get held(): boolean {
    return this.confirmed && (this.sentAt === undefined || Date.now() - this.sentAt < this.lostAfterMs);
  }

  start(): this {
    void this.beat();
    this.timer = setInterval(() => void this.beat(), this.lostAfterMs / 3).unref();
    return this;
  }

  /** Lets the lock go with its connection: what this owner still holds is taken over once its calls had their time. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.confirmed = false;
    await this.pool.end().catch(() => undefined);
  }

  private async beat(): Promise<void> {
    if (this.sentAt !== undefined) return;
    this.sentAt = Date.now();
    try {
      const { rows } = await this.ask();
      // Not taken: a live owner's lock has this one's key (a hash collision), which keeps this one's writes to their lease.
      if (!rows[0]!.ok && !this.warned) {
        this.warned = true;
        log.warn({ owner: this.owner }, "another owner's lock has this one's key: this replica's writes are taken over at the end of their lease only");
      }
      if (this.lost) log.info({ owner: this.owner }, 'outbox owner lock held again');
      this.lost = false;
      this.confirmed = true;
    } catch (err) {
      if (this.confirmed) log.warn({ err }, 'outbox owner lock lost: nothing is sent until it is held again');
      this.lost ||= this.confirmed;
      this.confirmed = false;
    } finally {
      this.sentAt = undefined;
    }
  }

  /**
   * The heartbeat's statement, its answer waited for as long as the server keeps a silent peer's lock: past that, the
   * connection is dropped (a store lost with its host leaves it open for good), and the lock taken again on a new one.
   */
  private async ask(): Promise<pg.QueryResult<{ ok: boolean }>> {
    const client = await connectClient(this.pool);
    try {
      const answer = await withDeadline(client.query<{ ok: boolean }>(HOLD, [this.owner]), this.lossMs, () => new Error(`no answer within ${this.lossMs} ms`));
      client.release();
      return answer;
    } catch (err) {
      client.release(true);
      throw err;
    }
  }
}
