/**
 * The durable outbox behind the runner: every secondary write's intent is stored before its primary call
 * (so a write the primary applied is never lost to a crash before the agent's answer), then applied off the
 * agent's path in per-key order (src/outbox/runner.ts). While the state store is down, intents wait in
 * a bounded in-memory queue (and in outbox.heldFile, for a start after a crash) and are stored, in order, when it returns.
 *
 * Over 300 lines: intents, the store-down queue and its replay keep one order per key between them.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Config } from '../config.js';
import type { ExecutionObserver } from '../plan/observer.js';
import { other, type Side } from '../plan/plan.js';
import {
  distinctKeys,
  keyOf,
  type ApplyWrite,
  type PendingWrite,
  type PrimaryOutcome,
  type SecondaryWrites,
  type SecondaryStats,
  type SecondaryWrite,
  towardsKey,
  type Untold,
} from '../plan/secondary.js';
import { KeyChains } from '../util/key-chains.js';
import { serviceOf, type ServiceName } from '../services/registry.js';
import { effectDigest } from '../services/legacy-lookup.js';
import { LegError } from '../legs/types.js';
import type { LegacyRequest } from '../services/types.js';
import { cleanText, isConflict, isDataError } from '../store/sanitize.js';
import { childLogger } from '../telemetry/log.js';
import { OutageBuffer } from './buffer.js';
import { Resolver, type ResolveSides } from './resolve.js';
import { OutboxRunner, type Primary } from './runner.js';
import { OutboxTable, SESSION_SETTINGS, type OutboxIntent } from './table.js';
import { withDeadline } from '../util/deadline.js';
import { GroupCommit } from '../util/group-commit.js';
import { pgPoolLike, type BoundedPoolConfig, type Settings } from '../util/pg-url.js';
import { OWNER_POOL, OwnerLock, ownerName } from './owner-lock.js';
import { HeldFile, type HeldAnswer } from './held-file.js';

const log = childLogger('outbox');
const FLUSH_RETRY_MS = 500;
/** A failed flush of held writes is logged once in this many (every 5 s at FLUSH_RETRY_MS). */
const FLUSH_FAILURES_LOGGED_EVERY = 10;
const FLUSH_BATCH = 200;
const FLUSH_BATCH_TIMEOUT_MS = 5_000;
/** Intents have connections of their own, so the agent's path never queues behind background work. */
const INTENT_CONNECTIONS = 4;
/** Intent batches stored at once: the rest of the connections serve unlanded() look-ups and the flush. */
const GROUP_LANES = 2;
const WORKER_CONNECTIONS = 8;

/**
 * The outbox's two pools (intents: kept open while idle, as a fresh connection would cost the agent a connect and an
 * authentication; workers), each statement bounded by `statementTimeoutMs`. A connect is bounded too: node-postgres
 * waits for ever by default, and a store lost with its host while a connection was being made left that connect, and
 * the pump whose completion waited on it, silent for good (store-lost.test.ts, beside the chaos probe: drained never).
 */
export const outboxPools = (statementTimeoutMs: number) => {
  const bounds = { query_timeout: statementTimeoutMs, connectionTimeoutMillis: CONNECT_MS };
  return { intents: { max: INTENT_CONNECTIONS, idleTimeoutMillis: 0, ...bounds }, workers: { max: WORKER_CONNECTIONS, ...bounds } };
};
const CONNECT_MS = 5_000;
const ASYNC_COMMIT: Settings = [['synchronous_commit', 'off']];
const REFUSED = 'its primary refused it, or it never reached the primary';
/** A question about a key (its text cleaned) put to the store. */
type StoreAsk = (key: string) => Promise<boolean>;
const READ_UNTOLD =
  "whether another replica's writes of this key have reached the side it is read from since the turn cannot be told: read refused rather than answered stale";
const EARLIER_UNTOLD =
  'whether writes of this key made before this process started have reached the side it is served from first cannot be told: refused rather than served out of order (their copies were on their way when the store last answered)';
/** What the runner gets for a write that could not be recorded at all (logged and counted as lost). */
const UNRECORDED: PendingWrite = { writeId: undefined, settle: () => undefined };

/** An intent stored; `behind copies`: its key has writes on their way to the side its write goes to first. */
type Stored = 'stored' | 'stored behind copies';

/**
 * An intent to store, with its storer when stored claimed: a write towards the orchestrator, which a look-up
 * by its id settles should the storer die before finishing it; so its storer takes it without another
 * statement (table.ts CLAIMED_BY). Writes towards legacy are stored pending and claimed after their primary
 * answered: a legacy look-up cannot tell every write, and one never sent needs none.
 */
interface Storing {
  intent: OutboxIntent;
  owner: string | null;
  /** Set once stored: the key has writes on their way to the side its write goes to first (table.ts RETURNING_AHEAD). */
  ahead?: boolean;
}

/** An intent waiting in memory for the store: the `done` of its key activity, and its primary's answer once known. */
interface Held {
  intent: OutboxIntent;
  done(): void;
  landed?: SecondaryWrite['landed'];
  primary?: PrimaryOutcome;
  /** When the primary answered (the flush may come much later). */
  settledAt?: number;
  /** Stored by the flush: from then on the runner hears of its primary. */
  stored?: boolean;
  /** Its first insert failed without an answer (timed out, connection lost): it may have committed all the same. */
  maybeStored?: boolean;
  /** Held by a process before this one (read from outbox.heldFile): its primary's outcome, unless the file kept it, for a look-up to find. */
  replayed?: boolean;
}

export interface OutboxOptions {
  /** The store's pool: the outbox opens its own small pools on the same database. */
  pool: pg.Pool;
  apply: ApplyWrite;
  /** Each service's legs and translator, for the look-ups that settle unknown outcomes. */
  sides(service: ServiceName): ResolveSides;
  /**
   * The longest a primary call can take (its leg's timeout, and a margin): an intent is held for its storer
   * at least this long beyond the lease, so nobody looks its primary up while the call may still be under way.
   */
  primaryBudgetMs: number;
  /** See ResolverOptions.barrierPings. */
  barrierPings(service: ServiceName, side: Side): number;
  observer: ExecutionObserver;
  services: readonly ServiceName[];
  config: Config['outbox'];
  /** Other replicas live on the store when it last answered (outbox.whenStoreAway `hold-alone`); none when not told. */
  peers?(): number;
  /** A health check of a side (see RunnerOptions.probe). */
  probe?(side: Side): Promise<boolean>;
  /** store.connectionLossMs, which o.pool's loss settings were made from (owner-lock.ts). */
  connectionLossMs: number;
  /** Its owner's name (ownerName()), where others must know it: the fleet publishes it. A new one when not given. */
  owner?: string;
  /** Where held writes are also kept (outbox.heldFile as resolved); in memory only when not given. */
  heldFile?: string;
}

export class Outbox implements SecondaryWrites {
  private readonly table: OutboxTable;
  private readonly intents: OutboxTable;
  private readonly intentPool: pg.Pool;
  private readonly workerPool: pg.Pool;
  private readonly runner: OutboxRunner;
  private readonly buffer: OutageBuffer<Held>;
  /** Intents of concurrent writes, stored a batch per statement group and WAL flush. */
  private readonly group = new GroupCommit<Storing>((batch) => this.storeIntents(batch), GROUP_LANES, FLUSH_BATCH);
  /** The runner's claim name, and the storer's: the other replicas know by its lock when this process died. */
  private readonly owner: string;
  private readonly lock: OwnerLock;
  /** Intents of one key are stored one after another, so their seq follows the primary's order. */
  private readonly chains = new KeyChains();
  private storeUp = true;
  /** Since when the store has been away (storeUp false), and how many held writes were stored since: for the log. */
  private away = { since: 0, stored: 0 };
  private flushing: Promise<void> | undefined;
  private closed = false;
  private lost = 0;
  /** Keys whose held writes another replica's later ones overtook (overtaken()). */
  private reordered = 0;
  private lastParked = 0;
  private file: HeldFile | undefined;
  /**
   * Keys (towardsKey) with a write an earlier process held (replayed) not yet known landed: the store's answer that
   * none of the key's writes is on its way there lets one go. As many as were replayed at most.
   */
  private readonly replayedKeys = new Set<string>();
  /** The file has lines the store may not have taken yet: emptied once the held writes are stored. */
  private fileHolds = false;
  /** The file's last emptying, which its closing waits for. */
  private clearing: Promise<void> | undefined;

  constructor(private readonly o: OutboxOptions) {
    const c = o.config;
    this.owner = o.owner ?? ownerName();
    // Synchronous commits unless asked otherwise: an intent an agent was answered for, and a claim (which
    // says an attempt may have been sent), must survive a crash of PostgreSQL itself.
    // A statement unanswered for statementTimeoutMs gives its connection up (node-postgres's query_timeout: the pool
    // drops it): a store lost with its host leaves connections that nothing closes, which would hold the outbox for
    // good. What it asked may still have been done (leases, ids and look-ups make a repeat safe).
    const settings = [...SESSION_SETTINGS, ...(c.unsafeAsyncCommit ? ASYNC_COMMIT : [])];
    const pools = outboxPools(c.statementTimeoutMs);
    this.intentPool = poolLike(o.pool, settings, pools.intents);
    this.intents = new OutboxTable(this.intentPool, this.owner);
    // The store's loss settings (o.pool's): the server lets the lock go within connectionLossMs of this host falling silent.
    this.lock = new OwnerLock(pgPoolLike(o.pool, 'outbox owner', [], OWNER_POOL), this.owner, o.connectionLossMs);
    this.workerPool = poolLike(o.pool, settings, pools.workers);
    this.table = new OutboxTable(this.workerPool);
    this.buffer = new OutageBuffer<Held>(
      c.memoryQueueMax,
      c.memoryQueueMaxBytes,
      (h) => h.intent.raw.length,
      ({ intent: i }) => [towardsKey(i.side, i.service), towardsKey(i.side, i.service, i.key)],
    );
    this.runner = new OutboxRunner({
      table: this.table,
      apply: o.apply,
      resolver: new Resolver({
        sides: o.sides,
        appliedOn: (service, key, side, exceptId, limit) => this.table.appliedOn(service, key, side, exceptId, limit),
        writtenAfter: (service, key, id) => this.table.writtenAfter(service, key, id),
        barrierPings: o.barrierPings,
      }),
      observer: o.observer,
      owner: this.owner,
      alive: () => this.lock.held,
      ownerGoneMs: o.primaryBudgetMs,
      services: o.services,
      policy: c,
      leaseMs: c.leaseMs,
      pollMs: c.pollMs,
      batch: c.batch,
      retainDoneMs: c.retainDoneMs,
      onStoreError: (err) => this.storeFailed(err),
      ...(o.probe ? { probe: o.probe } : {}),
    });
  }

  start(): this {
    const opened = this.o.heldFile ? HeldFile.open(this.o.heldFile) : undefined;
    this.file = opened?.file;
    if (opened?.held.length) this.replay(opened.held, opened.answers);
    void this.intentPool.query('SELECT 1').catch(() => undefined);
    this.lock.start();
    // An earlier process's held writes are stored first, and the ones it refused dropped, before any poll: one whose
    // insert committed late would otherwise be taken over as a write whose primary call may have been under way.
    if (this.flushing) void this.flushing.then(() => this.runner.start());
    else this.runner.start();
    return this;
  }

  async open(write: SecondaryWrite): Promise<PendingWrite> {
    const { route, side, done, landed } = write;
    const intent: OutboxIntent = {
      id: randomUUID(),
      service: route.service,
      // A NUL in an agent's session id must not make its write unstorable.
      key: cleanText(route.key ?? ''),
      action: route.action,
      side,
      raw: route.raw,
      effect: effectDigest(serviceOf(route.service).lookup, route.request as LegacyRequest),
      createdAt: new Date(),
    };
    let held: Held | Stored | 'lost' | LegError;
    try {
      held = await this.chains.run(keyOf(intent.service, intent.key), () => this.record(intent, done, landed));
    } catch (err) {
      log.error({ err, service: intent.service, key: intent.key }, 'secondary write not recorded');
      done();
      return UNRECORDED;
    }
    if (held === 'lost') return UNRECORDED;
    if (held instanceof LegError) return { writeId: undefined, refusal: held, settle: () => undefined };
    return {
      writeId: intent.id,
      ...(held === 'stored behind copies' ? { behindCopies: true } : {}),
      settle: (outcome) => {
        if (typeof held === 'string' || held.stored) return this.settle(intent, outcome);
        held.primary = outcome;
        held.settledAt = Date.now();
        // Kept beside it: a start after a kill copies it as applied, or drops it, with no look-up (a contextual write's
        // would find nothing, and copy one its primary refused: chaos seed 831 had 172 such look-ups, taken as applied).
        if (this.file && typeof outcome === 'string') void this.file.answered(intent.id, outcome, held.settledAt).catch(() => undefined);
      },
    };
  }

  /** Whether the key has a write towards `side` that has not landed there; when the store cannot tell, `unknown`. */
  unlanded(service: ServiceName, key: string, side: Side, unknown = true): Promise<boolean> {
    const ask: StoreAsk = (k) => this.intents.unlanded(service, k, side);
    return this.keyAsked(service, key, side, ask, () => unknown);
  }

  /**
   * Whether the key has a write towards `side` held here (its primary's outcome aside), this process's own with its
   * primary's success known, or one stored and not landed whose primary's outcome no storer marked unknown (a clear
   * whatever its outcome: OutboxTable.copying). When the store cannot tell, `unknown`.
   */
  copying(service: ServiceName, key: string, side: Side, unknown: Untold = false): Promise<boolean> {
    const ask: StoreAsk = (k) => this.intents.copying(service, k, side);
    return this.acknowledgedAsked(service, key, side, ask, () => this.untold(unknown));
  }

  /** Whether `side` lacks a write of the key its agent may have been told of: on its way there, or parked. When the store cannot tell, `unknown`. */
  lacks(service: ServiceName, key: string, side: Side, unknown: Untold = true): Promise<boolean> {
    return this.acknowledgedAsked(
      service,
      key,
      side,
      (k) => this.intents.lacks(service, k, side),
      () => this.untold(unknown),
    );
  }

  /**
   * As keyAsked, where this process's own write whose primary applied it counts while the store cannot tell. The store
   * is asked first: another replica may have taken the write over (this one's hold lost with a store crash) and landed
   * it, while this process's entry of it lasts until its own attempt ends; counted, it would move or hold the key's
   * writes, and another replica's reads, whose turn watch had ended, would not know of the moved ones (chaos seed 671).
   */
  private acknowledgedAsked(service: ServiceName, key: string, side: Side, ask: StoreAsk, untold: () => boolean): Promise<boolean> {
    return this.keyAsked(service, key, side, ask, () => this.runner.copying(service, cleanText(key), side) || untold());
  }

  /**
   * A write of the key held here (a slow commit: not in the table yet) counts; else the store's answer, or `untold()`'s
   * (at once while intents are held for the store's return: not a wait on the request path).
   */
  private async keyAsked(service: ServiceName, key: string, side: Side, ask: StoreAsk, untold: () => boolean): Promise<boolean> {
    const towards = towardsKey(side, service, cleanText(key));
    if (this.buffer.holds(towards)) return true;
    // An earlier process's held write of the key (replayed) is on its way while the store cannot tell: that process wrote
    // the key first to the other side, as this one's own writes count here (runner.copying).
    const cannotTell = () => this.replayedKeys.has(towards) || untold();
    if (!this.storeUp) return cannotTell();
    try {
      const some = await storeWithin(ask(cleanText(key)), this.o.config.intentTimeoutMs);
      if (!some) this.replayedKeys.delete(towards);
      return some;
    } catch {
      return cannotTell();
    }
  }

  /** The answer where the store cannot tell (Untold); 'refuse': alone (or at `hold`), no copy of the key is unknown here. */
  private untold(unknown: Untold): boolean {
    if (typeof unknown === 'boolean' || (unknown === 'refuse' && !this.refusesWhileAway())) return unknown === true;
    const why = `state store gave no answer within ${this.o.config.intentTimeoutMs} ms`;
    const so = unknown === 'refuse' ? `${READ_UNTOLD} (outbox.whenStoreAway: ${this.o.config.whenStoreAway})` : EARLIER_UNTOLD;
    throw new LegError('unavailable', `${why}: ${so}`, 'state store');
  }

  /**
   * Whether any write of the service towards `side` has not landed there, held here or stored (made `before`: stored,
   * as an earlier process's held writes are once read back); rejects when the store cannot tell.
   */
  async anyUnlanded(service: ServiceName, side: Side, before?: Date): Promise<boolean> {
    if (!before && this.buffer.holds(towardsKey(side, service))) return true;
    return storeWithin(this.intents.anyOpen(service, side, before), this.o.config.intentTimeoutMs);
  }

  /** The primary's answer for a stored intent (given `at`), handed to the runner. */
  private settle(intent: OutboxIntent, outcome: PrimaryOutcome, at = Date.now()): void {
    if (outcome === 'refused') {
      void this.runner.refused(intent.service, intent.key, intent.id, REFUSED);
      return;
    }
    let primary: Primary = 'applied';
    if (outcome !== 'applied') {
      primary = { unknownOn: outcome.unknownOn, at, ...(outcome.late ? { late: outcome.late } : {}) };
      this.o.observer.unknownOutcome({ service: intent.service, action: intent.action, side: other(intent.side), role: 'primary' });
    }
    this.runner.settled(intent.service, intent.key, intent.id, primary, new Date(at));
  }

  /** A batch of intents in one transaction; when the database refuses one of them, each alone (per intent: its error, if any). */
  private async storeIntents(batch: Storing[]): Promise<unknown[]> {
    const leaseMs = this.o.config.leaseMs + this.o.primaryBudgetMs;
    const intents = batch.map((s) => s.intent);
    try {
      // One key's intents are stored one after another (its chain), so a batch normally holds each key once: one statement.
      if (batch.length === 1) batch[0]!.ahead = await this.intents.insert(batch[0]!.intent, leaseMs, null, batch[0]!.owner);
      else {
        const ahead = distinctKeys(intents)
          ? await this.intents.insertDistinct(
              intents,
              leaseMs,
              null,
              batch.map((s) => s.owner),
            )
          : await this.intents.insertAll(
              batch.map((s) => ({ intent: s.intent, owner: s.owner, primaryOk: null })),
              leaseMs,
            );
        for (const s of batch) s.ahead = ahead.has(s.intent.id);
      }
      return [];
    } catch (err) {
      if (!isDataError(err) || batch.length === 1) throw err;
      return Promise.all(
        batch.map((s) =>
          this.intents.insert(s.intent, leaseMs, null, s.owner).then(
            (ahead) => void (s.ahead = ahead),
            (e: unknown) => e,
          ),
        ),
      );
    }
  }

  /** Stores the intent (before the primary call) or, with the store down, holds it in memory (or refuses it: whenStoreAway). */
  private async record(intent: OutboxIntent, done: () => void, landed: Held['landed']): Promise<Held | Stored | 'lost' | LegError> {
    // Behind writes already held in memory, a write must wait there too, or it would overtake them.
    let maybeStored = false;
    if (this.storeUp && this.buffer.size === 0) {
      try {
        const storing: Storing = { intent, owner: intent.side === 'new' ? this.owner : null };
        await storeWithin(this.group.add(storing), this.o.config.intentTimeoutMs);
        this.runner.opened(intent.service, intent.key, intent.id, intent.side, done, landed, storing.owner !== null);
        return storing.ahead ? 'stored behind copies' : 'stored';
      } catch (err) {
        if (isDataError(err)) return this.lose(intent, 'refused by the state store', err, done);
        // A timed-out insert may still commit: the flush stores the same id again (a no-op then), or drops it.
        maybeStored = true;
        this.storeFailed(err);
      }
    }
    if (this.refusesWhileAway()) return this.refuse(intent, done, maybeStored);
    // Its key stays busy until the write is attempted: until then the new side lacks it, and a read
    // served from there or compared with it would be stale.
    const held: Held = { intent, done, ...(landed ? { landed } : {}), ...(maybeStored ? { maybeStored } : {}) };
    if (!this.buffer.push(held)) return this.lose(intent, 'state store down and the in-memory queue is full', undefined, done);
    await this.keep(intent);
    this.flushSoon();
    return held;
  }

  /**
   * On disk before its write is sent (outbox.heldFile): a process killed before the store returns loses none. A refused
   * one is kept with its answer, for the next start to drop. Called in the same turn as the buffer's push: a flush
   * ending meanwhile must not empty the file before these lines are stored.
   */
  private async keep(intent: OutboxIntent, answer?: 'refused'): Promise<void> {
    if (!this.file) return;
    this.fileHolds = true;
    const lines = [this.file.append(intent), ...(answer ? [this.file.answered(intent.id, answer, Date.now())] : [])];
    await Promise.all(lines).catch((err: unknown) => {
      log.error(
        { err, service: intent.service, key: intent.key, id: intent.id },
        answer
          ? 'refused write not noted in outbox.heldFile: should this process die before the state store answers, its intent may be taken over'
          : 'held write not kept in outbox.heldFile: lost should this process die before the state store returns',
      );
    });
  }

  /**
   * The writes an earlier process held when it died (outbox.heldFile), stored ahead of any taken since: with their
   * primary's answer where the file has it (one refused is dropped, as a refused one whose insert may have committed
   * is), else with their primary's outcome unknown, for a look-up once its primary call's budget has run out. One older
   * than outbox.retainDoneMs may have been stored and purged since: it is logged instead, lest it be applied twice.
   */
  private replay(intents: readonly OutboxIntent[], answers: ReadonlyMap<string, HeldAnswer>): void {
    let count = 0;
    for (const intent of intents) {
      const done = () => undefined;
      const a = answers.get(intent.id);
      const answer = a ? { primary: a.primary, settledAt: a.at, maybeStored: a.primary === 'refused' } : {};
      if (Date.now() - intent.createdAt.getTime() > this.o.config.retainDoneMs)
        this.lose(intent, 'held by an earlier process longer ago than outbox.retainDoneMs', undefined, done);
      else if (!this.buffer.push({ intent, done, replayed: true, ...answer })) this.lose(intent, 'the in-memory queue is full', undefined, done);
      else {
        if (a?.primary !== 'refused') this.replayedKeys.add(towardsKey(intent.side, intent.service, intent.key));
        count++;
      }
    }
    this.fileHolds = true;
    log.warn({ count }, 'writes an earlier process held while the state store was away read from outbox.heldFile: stored before any taken since');
    this.flushSoon();
  }

  /** outbox.whenStoreAway: `hold-alone` refuses where another replica may write the key meanwhile (its writes would overtake). */
  private refusesWhileAway(): boolean {
    const when = this.o.config.whenStoreAway;
    return when === 'refuse' || (when === 'hold-alone' && (this.o.peers?.() ?? 0) > 0);
  }

  /**
   * outbox.whenStoreAway refuse: the write is not sent (so no other replica's later write of its key can overtake
   * it); an intent whose insert may yet commit waits in memory for the flush to drop it, and in outbox.heldFile
   * (answered refused) before the agent is answered: killed before that drop, this process leaves the row to its next
   * start to drop, not to a takeover as a write whose primary call may have been under way (one to
   * ContextualMemoryAgent is then copied as applied: chaos seed 1011, a write the agent was told was refused on the
   * orchestrator alone).
   */
  private async refuse(intent: OutboxIntent, done: () => void, maybeStored: boolean): Promise<LegError> {
    if (maybeStored) {
      this.buffer.push({ intent, done: () => undefined, primary: 'refused', maybeStored });
      await this.keep(intent, 'refused');
    }
    done();
    const why = `state store gave no answer within ${this.o.config.intentTimeoutMs} ms (outbox intent)`;
    // The reason the operator chose: no write served unrecorded, or none another replica's writes of its key could overtake.
    const so =
      this.o.config.whenStoreAway === 'refuse'
        ? 'no write is served that is not recorded first (outbox.whenStoreAway: refuse)'
        : "another replica is live and may write its key meanwhile, so that the key's order holds (outbox.whenStoreAway: hold-alone)";
    return new LegError('unavailable', `${why}: write refused unsent: ${so}`, 'state store');
  }

  private lose(intent: OutboxIntent, why: string, err: unknown, done: () => void): 'lost' {
    this.lost++;
    log.error({ err, service: intent.service, key: intent.key, action: intent.action, id: intent.id, lost: this.lost }, `secondary write lost: ${why}`);
    done();
    return 'lost';
  }

  private storeFailed(err: unknown): void {
    // A statement rolled back for a conflict (two replicas' completions deadlocked, CI run 294) is the store answering
    // (the runner's persist() sends it again): taken for an outage, it had hold-alone refuse every write until a flush.
    if (isConflict(err)) log.warn({ err }, 'state store statement rolled back for a conflict with another (not an outage): sent again');
    else {
      if (this.storeUp) {
        log.warn({ err }, 'state store unreachable: secondary writes held in memory until it returns');
        this.away = { since: Date.now(), stored: 0 };
      }
      this.storeUp = false;
    }
    this.flushSoon();
  }

  private flushSoon(): void {
    if (this.closed) return;
    this.flushing ??= this.flush().finally(() => (this.flushing = undefined));
  }

  private async flush(): Promise<void> {
    for (let failed = 0; !this.closed; failed++) {
      try {
        await this.flushOnce();
        return;
      } catch (err) {
        // Named now and then: while the held writes are not stored, later ones are held too (and turns cannot see them).
        if (failed % FLUSH_FAILURES_LOGGED_EVERY === 0)
          log.warn({ err, held: this.buffer.size, failed: failed + 1 }, 'held secondary writes not stored yet: trying again');
        await new Promise((r) => setTimeout(r, FLUSH_RETRY_MS).unref());
      }
    }
  }

  /** Stores the held intents oldest first, a batch per transaction; the store counts as up again once none is left. Throws while it is down. */
  private async flushOnce(): Promise<void> {
    const timeoutMs = Math.max(this.o.config.intentTimeoutMs, FLUSH_BATCH_TIMEOUT_MS);
    if (this.buffer.size === 0) await storeWithin(this.intentPool.query('SELECT 1'), this.o.config.intentTimeoutMs);
    /** Keys already found overtaken by this flush: a key whose held writes span batches counts once. */
    const reported = new Set<string>();
    while (this.buffer.size) {
      const batch = this.buffer.peekMany(FLUSH_BATCH);
      // Those whose primary refused them need no record; the others carry what is known of their primary.
      const kept = batch.filter((h) => h.primary !== 'refused');
      let stored = kept;
      try {
        // A batch that timed out may still commit: storing its ids again is then a no-op. A refused one whose first
        // insert may commit late is stored too, so that the drop below finds it (an insert still on its way then
        // waits for this one, or finds it, and does nothing).
        const toStore = batch.filter((h) => h.primary !== 'refused' || h.maybeStored);
        // A replayed one's primary call was sent before its process died: it is looked up once the call's budget ran out.
        const held = toStore.map((h) => ({
          intent: h.intent,
          primaryOk: h.primary === 'applied' ? true : null,
          ...(h.replayed ? { leaseMs: this.o.primaryBudgetMs } : {}),
        }));
        await storeWithin(this.intents.insertAll(held, this.o.config.leaseMs + this.o.primaryBudgetMs), timeoutMs);
      } catch (err) {
        if (!isDataError(err)) throw err;
        stored = await this.storeEachOf(kept);
      }
      // Once stored (a retried batch is stored again as a no-op, and looked at again only if this failed).
      await this.overtaken(stored, reported, timeoutMs);
      // A refused one left stored would wait as a storer's lost intent (a lease, a look-up) and hold its key's later
      // writes back meanwhile: drop it now.
      for (const h of batch) if (h.primary === 'refused' && h.maybeStored) await storeWithin(this.intents.drop(h.intent.id, REFUSED, this.owner), timeoutMs);
      this.buffer.shiftMany(batch.length);
      this.away.stored += stored.length;
      for (const h of batch) if (h.primary === 'refused') h.done();
      for (const h of stored) {
        h.stored = true;
        if (h.replayed) continue;
        this.runner.opened(h.intent.service, h.intent.key, h.intent.id, h.intent.side, h.done, h.landed, false);
        if (h.primary) this.settle(h.intent, h.primary, h.settledAt);
      }
    }
    // Not awaited: a write taken meanwhile would be held behind none, with no flush to store it.
    if (this.fileHolds) {
      this.fileHolds = false;
      this.clearing = this.file
        ?.clear()
        .catch((err: unknown) => log.error({ err }, 'outbox.heldFile not emptied: its writes are stored again (a no-op) at the next start'));
    }
    if (!this.storeUp)
      log.info({ stored: this.away.stored, awayMs: Date.now() - this.away.since }, 'state store reachable again: held secondary writes stored');
    this.storeUp = true;
  }

  /**
   * Held writes whose keys got a later write stored by another replica meanwhile (README "What it cannot order"):
   * stored after it, the held one lands on the secondary after it, unlike on the primary. Each such key is named
   * and counted (the alert MemshiftKeysReordered), for an operator to reconcile.
   */
  private async overtaken(stored: readonly Held[], reported: Set<string>, timeoutMs: number): Promise<void> {
    // Each held write on its own: an earlier one of its key may have kept its place (a first insert that committed late).
    // One an earlier process held (replayed) has no known answer time: its creation, before its primary call, stands for
    // it (a write of its key another agent sent while that call was under way counts too; a warning too many, not one lost).
    const since = (h: Held) => h.settledAt ?? (h.replayed ? h.intent.createdAt.getTime() : undefined);
    const held = stored.flatMap((h) => {
      const at = since(h);
      return at !== undefined && !reported.has(keyOf(h.intent.service, h.intent.key)) ? [{ id: h.intent.id, since: new Date(at) }] : [];
    });
    if (!held.length) return;
    const replayed = new Set(stored.filter((h) => h.replayed).map((h) => keyOf(h.intent.service, h.intent.key)));
    for (const { service, key } of await storeWithin(this.intents.overtaken(held), timeoutMs)) {
      reported.add(keyOf(service, key));
      this.reordered++;
      log.warn(
        { service, key, reordered: this.reordered, ...(replayed.has(keyOf(service, key)) ? { heldByEarlierProcess: true } : {}) },
        'a write held in memory while the state store was away was overtaken by a later write of its key stored by another replica: the secondary may hold them in another order than the primary (a reconciliation shows it)',
      );
    }
  }

  /** One by one, so that the one the database refuses is the only one lost; returns those stored. */
  private async storeEachOf(batch: readonly Held[]): Promise<Held[]> {
    const stored: Held[] = [];
    for (const h of batch) {
      try {
        await storeWithin(
          this.intents.insert(h.intent, this.o.config.leaseMs + this.o.primaryBudgetMs, h.primary === 'applied' ? true : null),
          this.o.config.intentTimeoutMs,
        );
        stored.push(h);
      } catch (err) {
        if (!isDataError(err)) throw err;
        this.lose(h.intent, 'refused by the state store', err, h.done);
      }
    }
    return stored;
  }

  /** Waits until every write taken so far has been attempted (or handed over); while the store is down, for its return. */
  async drain(): Promise<void> {
    do {
      await this.chains.idle();
      await this.flushing;
      await this.runner.idle();
    } while (this.chains.size || this.flushing || this.runner.busy);
  }

  async stats(): Promise<SecondaryStats> {
    const held = this.buffer.peek();
    const memory = {
      retries: this.runner.retries,
      memoryQueued: this.buffer.size,
      memoryQueuedBytes: this.buffer.bytes,
      overflowed: this.lost,
      reordered: this.reordered,
      storeUp: this.storeUp,
    };
    const heldAge = held ? Date.now() - held.intent.createdAt.getTime() : 0;
    try {
      const s = await storeWithin(this.table.stats(), 1_000);
      this.lastParked = s.parked;
      const storedAge = s.oldest ? Date.now() - s.oldest.getTime() : 0;
      return { ...memory, depth: s.depth + this.buffer.size, oldestAgeMs: Math.max(storedAge, heldAge), parked: s.parked };
    } catch {
      return { ...memory, depth: this.buffer.size, oldestAgeMs: heldAge, parked: this.lastParked };
    }
  }

  /** Stops applying (what is left stays stored for the next start or another replica); one last try to store what memory holds. */
  async close(): Promise<void> {
    await this.chains.idle();
    await this.runner.stop();
    this.closed = true;
    await this.flushing;
    if (this.buffer.size) await this.flushOnce().catch(() => undefined);
    if (this.buffer.size) {
      if (this.file) log.warn({ count: this.buffer.size }, 'state store down at shutdown: held secondary writes kept in outbox.heldFile for the next start');
      else log.error({ count: this.buffer.size }, 'state store down at shutdown: secondary writes held in memory are lost');
      for (const h of this.buffer.peekMany(this.buffer.size)) h.done();
    }
    await this.clearing;
    this.file?.close();
    this.file = undefined;
    await Promise.all([this.intentPool.end(), this.workerPool.end()]).catch(() => undefined);
    await this.lock.stop();
  }
}

/** A pool on the same database as `base`, with its settings and `settings`. */
function poolLike(base: pg.Pool, settings: Settings, config: BoundedPoolConfig): pg.Pool {
  return pgPoolLike(base, 'outbox', settings, config).on('error', (err) => log.warn({ err }, 'idle outbox connection lost'));
}

/** The state store's answer within `ms`, or an error saying it gave none. */
const storeWithin = <T>(work: Promise<T>, ms: number): Promise<T> => withDeadline(work, ms, () => new Error(`state store gave no answer within ${ms} ms`));
