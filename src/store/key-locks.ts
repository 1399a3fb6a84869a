/**
 * Per-key locks shared by every replica on one state store: PostgreSQL advisory locks on connections of their
 * own, so a replica that dies lets go of its keys with its connections, and no pooled connection waits on a lock.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { childLogger } from '../telemetry/log.js';
import { connectClient, lossSettings, outOfReach } from './client.js';
import { AwaitingAnswer, LockBatches } from './lock-batches.js';
import { storableKey } from '../util/storable-key.js';
import { KeyChains } from '../util/key-chains.js';
import { KeyBusy, type Keep, type KeyLocks } from '../services/types.js';
import type { ServiceName } from '../services/registry.js';
import { pgPool } from '../util/pg-url.js';

const log = childLogger('key-locks');

/** The advisory locks' first key: memshift's key locks apart from any other advisory lock on the database. */
const LOCK_CLASS = 0x6d736b6c;
/** The first key of the write-order locks (`writeOrder`): taken around work that may take the key's lock itself. */
const ORDER_CLASS = 0x6d736b6f;
/**
 * Connections per replica, each holding the locks of its share of the keys (a key's lock lives on the connection
 * that took it); each sends its locks and unlocks in batches, one batch at a time (`LockBatches`).
 */
const CONNECTIONS = 4;
/** Keys this replica waits for at once; a key past them waits for a waiter's connection within its wait. */
const WAITERS = 4;
/** PostgreSQL's lock_not_available: lock_timeout ran out. */
const LOCK_NOT_AVAILABLE = '55P03';
/**
 * While the store cannot be reached, keys are held in this process only, until a statement asked this often answers:
 * as soon as it is back, other replicas' work on a key waits for this one's again (a fixed 5 s did not see it back).
 */
const PROBE_EVERY_MS = 250;

export interface KeyLockOptions {
  /** How long a key held by another replica is waited for before the work fails; default 10 s. */
  waitMs?: number;
  /** How soon the server lets go of the locks of a connection whose peer went silent (`lossSettings`); default 10 s. */
  lossMs?: number;
  /** How long after this process lost a lock connection the keys it takes wait before their work (`afterLoss`); default 4 s. */
  lossGraceMs?: number;
}

/** PostgreSQL's admin_shutdown, crash_shutdown, idle_session_timeout: the server ended the connection. */
const ENDED = ['57P01', '57P02', '57P05'];

const UNLOCK = 'SELECT pg_advisory_unlock($1, hashtext($2)) AS ok';

/** A key this process holds: letting it go, on the connection its lock lives on (not waited for). */
type Held = { release(): void } | undefined;
/** Which of a key's two locks: a class of advisory locks, and its name among this process's own turns. */
type Scope = { cls: number; prefix: string };
const TRANSLATION: Scope = { cls: LOCK_CLASS, prefix: '' };
const ORDER: Scope = { cls: ORDER_CLASS, prefix: 'order ' };

export class PgKeyLocks implements KeyLocks {
  private readonly pools: pg.Pool[];
  /** Each pool's lock statements, batched. */
  private readonly batches: LockBatches[];
  /** Connections a key is waited for on, queued in PostgreSQL's lock manager: one per key waited for at once. */
  private readonly waiters: pg.Pool;
  private readonly waitMs: number;
  /** Set while the store was found unreachable: settles once it answers again. */
  private unreachable: Promise<void> | undefined;
  private closed = false;
  private readonly chains = new KeyChains();
  /** When this process last lost a lock connection (performance.now()); the grace after it (`afterLoss`). */
  private lostAt = Number.NEGATIVE_INFINITY;
  private readonly lossGraceMs: number;
  /** Other replicas that may have had work under way (`countPeers`); unknown, taken as some. */
  private peers: () => number = () => 1;
  /** A lock connection of this process's lost: the keys held on it went with it, maybe under another's work. */
  private readonly lost = (err: Error) => {
    this.lostAt = performance.now();
    log.warn({ err, graceMs: this.lossGraceMs }, 'key lock connection lost: its keys were let go; keys taken during the grace wait it out');
  };

  constructor(connectionString: string, opts: KeyLockOptions = {}) {
    this.waitMs = opts.waitMs ?? 10_000;
    const lossMs = opts.lossMs ?? 10_000;
    this.lossGraceMs = opts.lossGraceMs ?? 4_000;
    const loss = lossSettings(lossMs);
    // Connections that never idle out: a session advisory lock lives on the connection that took it.
    this.pools = Array.from({ length: CONNECTIONS }, () =>
      pgPool(connectionString, 'key locks', loss, { max: 1, idleTimeoutMillis: 0, connectionTimeoutMillis: 1_000, keepAlive: true }).on('error', this.lost),
    );
    // Each statement's answer is bounded by the batches (on this process's running time), not by the client's timer;
    // a late one is waited for as long as the server keeps a silent peer's locks.
    this.batches = this.pools.map((p) => new LockBatches(p, undefined, lossMs));
    // The server gives up the wait (lock_timeout) before the client gives up the statement.
    this.waiters = pgPool(connectionString, 'key lock waits', [...loss, ['lock_timeout', this.waitMs]], {
      max: WAITERS,
      connectionTimeoutMillis: this.waitMs,
      query_timeout: this.waitMs + 2_000,
      keepAlive: true,
    }).on('error', this.lost);
  }

  /**
   * Runs `work` while nothing else, in this process or another replica, runs work on the key. A store that cannot be
   * reached does not stop it (the state store's outage must not stop the agents' writes): the key is then held in
   * this process only. `work` may `keep` the key past its own end, until a promise settles.
   */
  hold<T>(service: ServiceName, key: string, work: (keep: Keep) => Promise<T>): Promise<T> {
    return this.holdIn(TRANSLATION, service, key, work);
  }

  /**
   * The key's other lock, for the order of its writes across replicas: held around a write whose work may take the
   * key's own lock (`hold`) inside, which a single lock would not allow (this process's turns are per lock).
   */
  readonly writeOrder: KeyLocks = { hold: (service, key, work) => this.holdIn(ORDER, service, key, work) };

  private holdIn<T>(scope: Scope, service: ServiceName, key: string, work: (keep: Keep) => Promise<T>): Promise<T> {
    // Stored keys are spelt so that any legacy id (NUL, lone surrogates) makes valid text.
    const name = `${service}:${storableKey(key)}`;
    // An advisory lock is re-entrant on its connection: work of this process waits its turn here first.
    return this.chains.run(scope.prefix + name, async (chainHold) => {
      const held = await this.acquire(scope.cls, service, key, name);
      if (held) await this.afterLoss();
      const kept: Promise<unknown>[] = [];
      try {
        return await work((until) => kept.push(until));
      } finally {
        if (kept.length) {
          const settled = Promise.allSettled(kept);
          chainHold(settled);
          void settled.then(() => held?.release());
        } else held?.release();
      }
    });
  }

  /**
   * A key taken soon after this process lost lock connections waits out the grace before its work: a store that
   * crashed or restarted ended every replica's, so another replica's work on the key, under way when its lock went,
   * may still be making its calls (a contextual snapshot read, then written); it finishes first. This process cannot
   * know of another's loss alone (its connection cut, the store up): that work is not waited for. Nor does a key held
   * in this process only (the store away) wait: an outage's every write would stall (`outbox.whenStoreAway: hold-alone`
   * refuses those another replica may write meanwhile).
   */
  private async afterLoss(): Promise<void> {
    const left = this.lostAt + this.lossGraceMs - performance.now();
    if (left > 0 && this.peers() > 0) await sleep(left);
  }

  /** The fleet's count of other live replicas: a replica alone has no other's work to wait out after a loss. */
  countPeers(peers: () => number): void {
    this.peers = peers;
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.all([...this.pools, this.waiters].map((p) => p.end())).then(() => undefined);
  }

  private async acquire(cls: number, service: ServiceName, key: string, name: string): Promise<Held> {
    if (this.unreachable) return undefined;
    try {
      // The caller's answer needs no unlock; this process's next statement for the key follows it on the connection.
      const batches = this.batches[shardOf(name)]!;
      if (await batches.try(cls, name)) return { release: () => void batches.unlock(cls, name).catch(() => undefined) };
      return await this.wait(cls, service, key, name);
    } catch (err) {
      if (err instanceof KeyBusy) throw err;
      // Its connection waits for a late answer: that key held in this process only, the others shared as ever.
      if (err instanceof AwaitingAnswer) return undefined;
      if (err instanceof pg.DatabaseError) {
        // Its connection ended by the server (a crash, a restart, a terminated backend): its keys went with it.
        if (ENDED.includes(err.code ?? '')) this.lost(err);
        // The server refusing a statement is a fault to see, not an outage to ride out; one going down or starting up
        // (a crash's recovery: "not yet accepting connections") is an outage.
        if (!outOfReach(err)) throw err;
      }
      if (!this.unreachable) {
        log.warn({ err }, 'state store unreachable: keys held in this process only until it answers again');
        this.unreachable = this.untilAnswering().finally(() => (this.unreachable = undefined));
      }
      return undefined;
    }
  }

  /** Asks the store until it answers, one statement at a time (bounded as a wait's are) on a wait connection. */
  private async untilAnswering(): Promise<void> {
    while (!this.closed) {
      await sleep(PROBE_EVERY_MS);
      try {
        await this.waiters.query('SELECT 1');
        log.info('state store answers again: keys held across replicas again');
        return;
      } catch {
        // Not yet: asked again.
      }
    }
  }

  /**
   * Waits for a key another connection holds, queued on a connection of its own: PostgreSQL grants a lock to its
   * waiters in turn, and a later try-lock does not pass a queued waiter, so a replica that keeps taking the key
   * cannot keep this one out. The lock then lives on that connection until it is let go.
   */
  private async wait(cls: number, service: ServiceName, key: string, name: string): Promise<Held> {
    const client = await connectClient(this.waiters).catch(() => {
      throw new KeyBusy(service, key, this.waitMs);
    });
    // A waited lock lives on this checked-out connection: its loss is this process's as an idle one's is.
    if (!client.listeners('error').includes(this.lost)) client.on('error', this.lost);
    try {
      await client.query('SELECT pg_advisory_lock($1, hashtext($2))', [cls, name]);
    } catch (err) {
      const timedOut = err instanceof pg.DatabaseError && err.code === LOCK_NOT_AVAILABLE;
      // The server gave up the wait: the connection holds nothing. Anything else: it may, so it goes.
      client.release(!timedOut);
      if (timedOut) throw new KeyBusy(service, key, this.waitMs);
      throw err;
    }
    return {
      release: () =>
        void client.query(UNLOCK, [cls, name]).then(
          () => client.release(),
          () => client.release(true),
        ),
    };
  }
}

/** The connection a key's lock statements go to: always the same one for a key. */
function shardOf(name: string): number {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) | 0;
  return Math.abs(h) % CONNECTIONS;
}
