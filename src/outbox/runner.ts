/**
 * Applies outbox rows: one pump per key works through that key's writes in seq order (claiming each head,
 * settling what is unknown about it, applying it, recording the outcome), and a poll claims due heads left
 * by retries, other replicas or crashed owners and hands them to the pumps. Nothing is sent for a write,
 * and nothing after it for its key, while an earlier attempt's outcome is unknown: it is looked up first.
 *
 * Over 300 lines: the per-key pumps and the claim poll share one map of owned writes; split, each would reach into the other.
 */
import type { ExecutionObserver } from '../plan/observer.js';
import { other, SIDES, type Side } from '../plan/plan.js';
import { routeRequest, type Route } from '../routes/route.js';
import { distinctKeys, keyOf, UnknownCopy, type ApplyWrite, type LateAnswer, type SecondaryWrite } from '../plan/secondary.js';
import { isNotSent, isUnknownOutcome } from '../legs/types.js';
import { LateTranslation } from '../plan/sides.js';
import type { ServiceName } from '../services/registry.js';
import { childLogger } from '../telemetry/log.js';
import { HOLD_ACTION, type Completion, type OutboxRow, type OutboxTable } from './table.js';
import type { Found, Resolver, WriteRef } from './resolve.js';
import { backoffMs, decide, describe, UnreplayableWrite, type RetryPolicy } from './retry.js';
import { GroupCommit } from '../util/group-commit.js';

const log = childLogger('outbox');
const RETENTION_EVERY_MS = 60_000;
/** Purge statements a poll makes at most (PURGE_BATCH rows each), so that claims wait for none longer. */
const PURGE_BATCHES_PER_TICK = 2;
const RECLAIM_AFTER_MS = 1_000;
const PROBE_EVERY_MS = 1_000;
/** How often a write waiting for this process's owner lock looks again. */
const ALIVE_WAIT_MS = 100;
const LOST_CLAIM = 'outbox claim lost before its outcome was recorded (lease ran out): its next owner looks the write up before sending it';
/** A write whose primary's late reply (LegError.late) refused it. */
const REFUSED_LATE = 'its primary refused it (in a reply that came after its agent was answered)';
/** A copy made with its primary's outcome untold (OutboxRunner.attempt): counted apart as `assumed`. */
const ASSUMED_APPLIED =
  "a write taken over before its primary's answer was recorded (its replica killed, or its hold lost with the state store), which no read there shows: " +
  'copied as applied; if it never was, the sides differ by it until memshift reconcile --repair';
/** A copy not sent: a later clear of its key was made on its side first, which in the key's order empties the side of it. */
const CLEARED_SINCE = "a later clear of its key was made on this side first: in the key's order it is cleared there, so it is not copied";
/** A write a side (`on`: which, where not the one it goes to) may or may not have applied, whose service offers no read that shows it. */
const unknowable = (service: ServiceName, on = '') => `outcome unknown${on}, and ${service} offers no read that shows this write: parked for reconciliation`;
/**
 * How often own writes whose primary applied them and whose copies have not landed are recorded so in the store (most
 * land first): taken over after a kill, they are then copied as applied, not counted "assumed applied".
 */
const RECORD_ACKS_EVERY_MS = 250;
/** How long a write whose primary call is still under way here is left before it is looked at again. */
const PRIMARY_PENDING_MS = 500;
/** A dead holder's hold is tried again this often while its side does not answer the barrier. */
const HOLD_SETTLE_RETRY_MS = 1_000;
/** Unknown outcomes of this process's attempts are remembered this long (the connection that carried each). */
const UNKNOWN_MEMORY_MS = 600_000;
/** How long the newest claim attempted of each write is remembered: an older claim of it reaching a pump later is stale. */
const CLAIM_MEMORY_MS = 60_000;
/** Own writes of a key offered to a claim as known (known()). */
const KNOWN_MAX = 16;
/** Claims, and completions, stored at once, and the most in one statement. */
const GROUP_LANES = 1;
const GROUP_BATCH = 200;
/**
 * A claim or completion waits this long for others to share its statement: off the agent's path, it delays
 * only when the secondary write lands, and at 1,000 writes/s it takes the runner from about two statements a
 * write to a fraction of one (each costs memshift a socket write and the store a commit).
 */
const GROUP_LINGER_MS = 5;

export interface RunnerOptions {
  table: OutboxTable;
  apply: ApplyWrite;
  resolver: Resolver;
  observer: ExecutionObserver;
  /** This process's claim name; a restart is a new owner. */
  owner: string;
  /** Only rows of services this process can write are claimed. */
  services: readonly ServiceName[];
  policy: RetryPolicy;
  leaseMs: number;
  pollMs: number;
  batch: number;
  retainDoneMs: number;
  /** A store call failed for want of the store. */
  onStoreError(err: unknown): void;
  /** Whether a side answers (a health check); while one is failing it is asked every second, so its return is seen at once. */
  probe?(side: Side): Promise<boolean>;
  /**
   * Whether this process's owner lock is held (owner-lock.ts): while not, other replicas may take its writes over, so
   * it claims nothing and sends nothing (a write claimed waits for the lock). Always, without one.
   */
  alive?(): boolean;
  /** A write held by an owner whose lock is gone is taken over this long after its claim or store (table.ts OWNER_GONE). */
  ownerGoneMs: number;
}

/** What the primary said of one of this process's writes; unset while its call is under way. */
export type Primary = 'applied' | { unknownOn: number | undefined; at: number; late?: Promise<LateAnswer> };

/** One of this process's own writes: the key activity it ends, and its primary's answer once known. */
interface Own {
  done(): void;
  /** The side it goes to (the secondary). */
  side: Side;
  landed?: SecondaryWrite['landed'];
  primary?: Primary;
  /** When this process saw the primary acknowledge it: the record's time on the other side. */
  ackedAt?: Date;
  /** Stored claimed by this process (table.ts CLAIMED_BY) and not attempted yet: never sent. */
  held?: boolean;
}

interface Pump {
  service: ServiceName;
  key: string;
  /** Rows the poll claimed for this key (at most its head). */
  rows: OutboxRow[];
  /** Look for the key's next head again. */
  again: boolean;
  running?: Promise<void>;
}

/** The claim was lost while working on it: nothing more may be sent for it. */
class ClaimLost extends Error {}

/** Stopping while this process's owner lock is not held: nothing is sent for the write. */
class NotAlive extends Error {}

/** A key whose head a pump asks for, and once its batch is stored, the head if it could be claimed. */
interface Heading {
  service: ServiceName;
  key: string;
  row?: OutboxRow;
}

/** A write to finish, and once its batch is stored, whether its claim held and its key's next write, if claimed. */
interface Finishing extends Completion {
  row: OutboxRow;
  outcome?: { completed: boolean; next: OutboxRow | undefined };
}

export class OutboxRunner {
  private readonly pumps = new Map<string, Pump>();
  /** Per key, this process's own writes not yet finished, by row id. */
  private readonly own = new Map<string, Map<string, Own>>();
  /**
   * Per write, the newest claim of it this process attempted (its attempts count), in the order attempted. One row can
   * be claimed twice here (the poll's claim of a row whose lease ran out while the store was paused, and its pump's
   * of the same own write), and the older claim, attempted after the newer one finished it, said it was never sent
   * and sent it again (npm run chaos with the store paused: a write twice on legacy).
   */
  private readonly attemptedClaims = new Map<string, { attempts: number; at: number }>();
  /** This process's attempts whose outcome is unknown: the connection that carried each, and when. */
  private readonly unknowns = new Map<string, { on: number | undefined; at: number }>();
  /** Own writes whose primary applied them (when it acknowledged each), for recordAcks. */
  private readonly acks = new Map<string, { k: string; at: Date }>();
  private acksTimer: NodeJS.Timeout | undefined;
  /** The recording under way: one at a time, so a paused store holds one connection for it, not one per round. */
  private recordingAcks: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The poll under way, which stop() waits for: it may still be using the store. */
  private polling: Promise<void> | undefined;
  private stopped = false;
  /** Waits for late replies under way, each ended by stop() (one promise raced by every wait would keep a reaction per wait). */
  private readonly onStop = new Set<() => void>();
  private lastRetention = 0;
  /** The last purge left finished writes to delete: the next tick goes on with them. */
  private purging = false;
  private lastProbe = 0;
  /**
   * Sides whose last attempt here failed: their first success wakes the writes waiting in backoff. Both at start: what
   * waits in backoff then (a killed predecessor's, another replica's) is tried once the side answers a probe.
   */
  private readonly failing = new Set<Side>(SIDES);
  /** Failed attempts rescheduled by this process. */
  retries = 0;
  /** Claims of concurrent pumps' key heads, a batch per statement and WAL flush. */
  private readonly heads = new GroupCommit<Heading>((batch) => this.claimHeads(batch), GROUP_LANES, GROUP_BATCH, GROUP_LINGER_MS);
  /** Completions of concurrent writes (of different keys), a batch per statement and WAL flush. */
  private readonly completions = new GroupCommit<Finishing>((batch) => this.complete(batch), GROUP_LANES, GROUP_BATCH, GROUP_LINGER_MS);

  constructor(private readonly o: RunnerOptions) {}

  start(): void {
    // Started late (after a start's replayed writes were stored), a stop may have come first.
    if (this.stopped) return;
    const tick = async () => {
      await (this.polling = this.poll());
      if (!this.stopped) this.timer = setTimeout(() => void tick(), this.o.pollMs).unref();
    };
    this.timer = setTimeout(() => void tick(), 0).unref();
  }

  /**
   * A write of this process towards `side` was stored before its primary call (`held`: claimed as it was stored); `done`
   * ends its key's activity here.
   */
  opened(service: ServiceName, key: string, id: string, side: Side, done: () => void, landed: Own['landed'] | undefined, held: boolean): void {
    const k = keyOf(service, key);
    let m = this.own.get(k);
    if (!m) this.own.set(k, (m = new Map()));
    m.set(id, { done, side, held, ...(landed ? { landed } : {}) });
  }

  /** Whether a write of the key towards `side` that its primary applied is this process's own, not finished: told without the store. */
  copying(service: ServiceName, key: string, side: Side): boolean {
    for (const own of this.own.get(keyOf(service, key))?.values() ?? []) if (own.side === side && own.primary === 'applied') return true;
    return false;
  }

  /**
   * Its primary applied it (acknowledged `at`), or left its outcome unknown (then the primary is looked up first):
   * it may be taken now.
   */
  settled(service: ServiceName, key: string, id: string, primary: Primary, at = new Date()): void {
    const own = this.ownOf(service, key, id);
    if (own) {
      own.primary = primary;
      if (primary === 'applied') {
        own.ackedAt = at;
        this.acks.set(id, { k: keyOf(service, key), at });
        this.armAcks();
      }
    }
    // Other replicas then leave it out of the key's copies on their way; one attempt (a mark lost costs a wait's time).
    if (primary !== 'applied') void this.o.table.markUnknown(id).catch((err: unknown) => this.o.onStoreError(err));
    this.kick(service, key);
  }

  /** A recording of acknowledgements RECORD_ACKS_EVERY_MS from now (or then, once the one under way has ended). */
  private armAcks(): void {
    this.acksTimer ??= setTimeout(() => {
      this.acksTimer = undefined;
      if (this.recordingAcks) this.armAcks();
      else this.recordingAcks = this.recordAcks().finally(() => (this.recordingAcks = undefined));
    }, RECORD_ACKS_EVERY_MS).unref();
  }

  /** Records the primary's success of the own writes acknowledged since the last time that are not finished yet. */
  private async recordAcks(): Promise<void> {
    const waiting = [...this.acks].filter(([id, a]) => this.own.get(a.k)?.has(id)).map(([id, a]) => ({ id, at: a.at }));
    this.acks.clear();
    // One attempt: a mark lost leaves the write to a look-up, as before it (and to the "assumed" count where none tells).
    if (waiting.length && !this.stopped) await this.o.table.markApplied(waiting).catch((err: unknown) => this.o.onStoreError(err));
  }

  /** This process's own entry for a write it stored (none: stored elsewhere, or by a process before a crash). */
  private ownOf(service: ServiceName, key: string, id: string): Own | undefined {
    return this.own.get(keyOf(service, key))?.get(id);
  }

  /** Its primary refused it (or it was never sent there): neither side will have it. */
  async refused(service: ServiceName, key: string, id: string, reason: string): Promise<void> {
    await this.persist(() => this.o.table.drop(id, reason, this.o.owner));
    this.finished(keyOf(service, key), id);
    this.kick(service, key);
  }

  /** Works through the key's due writes now (its head, then the next, ...); `row` is one already claimed. */
  kick(service: ServiceName, key: string, row?: OutboxRow): void {
    const k = keyOf(service, key);
    if (this.stopped) return;
    let p = this.pumps.get(k);
    if (!p) this.pumps.set(k, (p = { service, key, rows: [], again: false }));
    if (row) p.rows.push(row);
    p.again = true;
    p.running ??= this.run(k, p);
  }

  get busy(): boolean {
    return this.pumps.size > 0;
  }

  async idle(): Promise<void> {
    while (this.pumps.size) await Promise.all([...this.pumps.values()].map((p) => p.running));
  }

  /** Stops polling; each pump finishes its current attempt, and what it had not started stays for later. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const end of this.onStop) end();
    clearTimeout(this.timer);
    // A stop hands each open write over with its primary's answer (handOver).
    clearTimeout(this.acksTimer);
    await this.recordingAcks;
    await this.polling;
    await this.idle();
    for (const [k, m] of this.own) for (const id of [...m.keys()]) this.finished(k, id);
  }

  private async run(k: string, p: Pump): Promise<void> {
    try {
      for (;;) {
        while (!this.stopped && (p.again || p.rows.length)) {
          p.again = false;
          // Each applied write hands over the key's next one, claimed in the same round trip.
          let row = p.rows.shift() ?? (await this.claimHead(p));
          while (row && !this.stopped) row = await this.attempt(row);
          if (row) p.rows.push(row);
        }
        // Claimed but not begun (shutdown): due again at once, for this process's successor or another replica.
        for (const row of p.rows.splice(0)) await this.persist(() => this.o.table.unclaim(row, this.o.owner, 0));
        await this.handOver(k, p);
        // A kick that came meanwhile (another write of the key answered) is served by this pump.
        if (!p.again || this.stopped) return;
      }
    } finally {
      this.pumps.delete(k);
    }
  }

  /**
   * Own writes the pump could not take (an earlier write of the key is someone else's, or in backoff) are
   * made due for whoever takes the key next, with what this process knows of their primary; they no longer
   * keep the key busy here (the store does, for every replica). All in one statement: behind a hung secondary, where
   * these are the store's busiest statements, one run of no-pile-up.test.ts handed 5,131 writes over in 3,682 (one a
   * statement before). A kick before it: the pump looks again first.
   */
  private async handOver(k: string, p: Pump): Promise<void> {
    if (p.again && !this.stopped) return;
    const known = [...(this.own.get(k) ?? [])].filter(([, own]) => own.primary);
    if (!known.length) return;
    const writes = known.map(([id, own]) => ({
      id,
      primaryOk: own.primary === 'applied' ? true : null,
      heldBy: own.held ? this.o.owner : null,
      ackedAt: own.ackedAt ?? null,
    }));
    await this.persist(() => this.o.table.handOver(writes));
    for (const [id] of known) this.finished(k, id);
  }

  /**
   * This process's writes of the key whose primary answered, the oldest first (the map keeps the order they were
   * stored in, which is their seq order). Only the key's head can be claimed, and an own write is the head only when
   * no older own write is open: the first few are enough, and a backlog of one key's writes does not make every claim
   * carry all of their ids.
   */
  private known(service: ServiceName, key: string): { known: string[]; held: string[] } {
    const out = { known: [] as string[], held: [] as string[] };
    for (const [id, o] of this.own.get(keyOf(service, key)) ?? []) {
      if (!o.primary) continue;
      out.known.push(id);
      if (o.held) out.held.push(id);
      if (out.known.length === KNOWN_MAX) break;
    }
    return out;
  }

  private async claimHead(p: Pump): Promise<OutboxRow | undefined> {
    const item: Heading = { service: p.service, key: p.key };
    try {
      await this.heads.add(item);
      return item.row;
    } catch (err) {
      this.o.onStoreError(err);
      // Its fresh writes are due to the poll only after a lease: look again soon instead.
      setTimeout(() => this.kick(p.service, p.key), RECLAIM_AFTER_MS).unref();
      return undefined;
    }
  }

  /** The heads of a batch of keys (each pump asks for its own key once at a time), in one statement. */
  private async claimHeads(batch: Heading[]): Promise<unknown[]> {
    const own = batch.map((h) => this.known(h.service, h.key));
    const rows = await this.o.table.claimKeys(
      this.o.owner,
      this.o.leaseMs,
      batch,
      own.flatMap((o) => o.known),
      own.flatMap((o) => o.held),
    );
    for (const h of batch) h.row = rows.find((r) => r.service === h.service && r.key === h.key);
    return [];
  }

  /** Settles, applies and records one claimed write; resolves with the key's next write when it could be claimed. */
  private async attempt(row: OutboxRow): Promise<OutboxRow | undefined> {
    if (this.staleClaim(row)) return undefined;
    const k = keyOf(row.service, row.key);
    const own = this.own.get(k)?.get(row.id);
    // From here it may be sent: a claim of it must not say otherwise again.
    if (own) own.held = false;
    if (own && !own.primary) {
      // Its primary call is still under way here (a lease shorter than the call): a look-up now would be early.
      await this.persist(() => this.o.table.unclaim(row, this.o.owner, PRIMARY_PENDING_MS));
      return undefined;
    }
    // A repair's or the backfill's hold on the key whose holder died (its lease ran out): nothing to send, but what the
    // holder sent may still be queued at a side that hangs, so that side works it off first (the key's writes wait).
    if (row.action === HOLD_ACTION) {
      try {
        await this.o.resolver.settle(row.service, row.side, row.sentBy);
      } catch {
        await this.persist(() => this.o.table.unclaim(row, this.o.owner, HOLD_SETTLE_RETRY_MS));
        return undefined;
      }
      return this.finish(row, { status: 'done' });
    }
    const mine = own?.primary;
    let route: Route;
    try {
      route = routeOf(row);
    } catch (error) {
      return this.giveBack(row, error, { sent: row.wasSent, primaryOk: row.primaryOk, counted: true });
    }
    const ref: WriteRef = { route, id: row.id };
    const claim = { lastKept: row.claimedAt };
    let primaryOk = row.primaryOk ?? (mine === 'applied' ? true : null);
    let phase: 'primary' | 'lookup' | 'apply' = 'primary';
    let on: number | undefined;
    /** The record's exact time on the primary, when looking the write up there read it. */
    let stamp: unknown;
    const t0 = performance.now();
    try {
      if (primaryOk === null) {
        await this.keep(row, claim);
        const hint = typeof mine === 'object' ? mine : undefined;
        const { found, stamp: seen } = await this.o.resolver.findRecord(other(row.side), ref, hint?.unknownOn, hint?.at ?? row.sentBy, true);
        stamp = seen;
        this.resolved(route, other(row.side), 'primary', found, hint?.at ?? row.createdAt.getTime());
        if (found === 'absent') return this.finish(row, { status: 'dropped', reason: 'its primary never applied it (looked up after an unknown outcome)' });
        if (found === 'unknowable' && (hint || row.primaryUnknown)) {
          // No read shows it there, and this process saw its call end unanswered: its late reply tells (a predecessor
          // that recorded the outcome unknown, its agent told of the failure, took that reply with it). Without one it is
          // parked: copied, the secondary could hold a write its primary never had (the chaos probe: a
          // ContextualMemoryAgent restarting took it unapplied).
          const answer = hint?.late ? await this.heard(row, claim, hint.late) : 'none';
          if (answer === 'lost') return undefined;
          if (answer !== 'none')
            this.resolved(route, other(row.side), 'primary', answer === 'applied' ? 'applied' : 'absent', hint?.at ?? row.createdAt.getTime());
          if (answer === 'refused') return this.finish(row, { status: 'dropped', reason: REFUSED_LATE });
          if (answer === 'none')
            return this.giveBack(row, new Error(unknowable(row.service, ' on its primary')), { sent: row.wasSent, primaryOk, counted: true, park: true });
        }
        // Found applied (a clear too: by what it left there), idempotent (a session made), answered late, or unknowable
        // there and taken over from a replica that died before it recorded the primary's answer (mostly one that applied
        // it, and acknowledged it to its agent): taken as applied, not sent to the primary again. By now the key's later
        // writes may have landed there, and a write repeated after them could undo them (a delete_session timed out at
        // new-primary, repeated after the agent made the session again and wrote to it). Had the primary never applied
        // it, the sides differ until a reconciliation repairs the secondary.
        primaryOk = true;
        // A clear of the key made since, first on this side, empties it of this write in the key's order (on the primary
        // the clear's copy lands after it): copied now, the write would outlive the clear on this side alone (the chaos
        // probe: an add_memory timed out on a hung orchestrator, the agent's clear_memories then made on legacy, and the
        // add copied there after it). A clear whose primary call may still be under way (refused, it is dropped) is waited for.
        const clearedAgoMs = await this.o.table.clearedSince(row.service, row.key, row.id, row.side);
        if (clearedAgoMs !== null && clearedAgoMs < this.o.ownerGoneMs) {
          await this.persist(() => this.o.table.unclaim(row, this.o.owner, this.o.ownerGoneMs - clearedAgoMs));
          return undefined;
        }
        if (clearedAgoMs !== null) return this.finish(row, { status: 'dropped', reason: CLEARED_SINCE });
        if (found === 'unknowable') {
          // Counted apart (the report's "assumed applied"), and named: the sides may differ by it until a reconciliation.
          log.warn({ id: row.id, service: row.service, key: row.key }, ASSUMED_APPLIED);
          const at = { service: route.service, action: route.action, side: other(row.side), role: 'primary' as const };
          this.o.observer.unknownResolved({ ...at, applied: true, assumed: true, resolveMs: Date.now() - row.createdAt.getTime() });
        }
      }
      if (row.wasSent) {
        phase = 'lookup';
        await this.keep(row, claim);
        const u = this.unknowns.get(row.id);
        const found = await this.o.resolver.find(row.side, ref, u?.on, u?.at ?? row.sentBy);
        this.resolved(route, row.side, 'secondary', found, u?.at ?? row.updatedAt.getTime());
        if (found === 'applied') return this.finish(row, { status: 'done' });
        if (found === 'unknowable') {
          return this.giveBack(row, new Error(unknowable(row.service)), { sent: true, primaryOk, counted: true, park: true });
        }
      }
      phase = 'apply';
      await this.keep(row, claim);
      on = this.o.resolver.connection(row.service, row.side);
      // The record's time on the primary: the one a look-up read there; else when it acknowledged the write here (or
      // to the process that handed it over or gave it back); when that was not seen (a crash), the one the primary's
      // history shows, or the intent's, made just before the primary call.
      const own = this.ownOf(row.service, row.key, row.id);
      const ackedAt = own?.ackedAt ?? row.ackedAt;
      if (stamp === undefined && !ackedAt && row.side === 'new') stamp = await this.o.resolver.legacyStamp(ref);
      const reply = await this.o.apply(route, row.side, row.id, ackedAt ?? row.createdAt, stamp);
      own?.landed?.(reply);
      this.o.observer.secondaryWritten({ route, side: row.side, ok: true, latencyMs: reply.latencyMs });
      if (this.failing.has(row.side)) void this.recovered(row.side).catch((err: unknown) => this.o.onStoreError(err));
      return this.finish(row, { status: 'done' });
    } catch (error) {
      if (error instanceof ClaimLost) {
        log.warn({ id: row.id }, LOST_CLAIM);
        return undefined;
      }
      // Stopping while waiting for the owner lock: given back untried (unless another replica has it by now).
      if (error instanceof NotAlive) {
        await this.persist(() => this.o.table.unclaim(row, this.o.owner, 0));
        return undefined;
      }
      // A look-up that never left (its side's breaker open) is not counted either; the side that failed is the one
      // looked at, and only that side answering again wakes the write (the chaos probe saw a copy towards the
      // orchestrator, its primary's look-up refused by JarvisMemoryAgent's open breaker, woken by every copy that
      // landed on the orchestrator meanwhile: 100 attempts in 3.5 s, then parked).
      if (phase !== 'apply')
        return this.giveBack(row, error, { sent: row.wasSent, primaryOk, counted: !isNotSent(error) }, phase === 'primary' ? other(row.side) : row.side);
      this.o.observer.secondaryWritten({ route, side: row.side, ok: false, latencyMs: performance.now() - t0, error });
      if (isUnknownOutcome(error)) {
        this.o.observer.unknownOutcome({ service: row.service, action: row.action, side: row.side, role: 'secondary' });
        // A translation still under way may yet send calls: the look-up that settles this attempt must come after its last.
        if (error instanceof LateTranslation && (await this.outlive(row, claim, error.settled)) === 'lost') return undefined;
        // No look-up can tell (ContextualMemoryAgent): its late reply does, waited for here under the claim, or it is parked.
        if (error instanceof UnknownCopy && this.o.resolver.unknowable(row.side, ref)) {
          const answer = await this.heard(row, claim, error.answer);
          if (answer === 'lost') return undefined;
          if (answer === 'applied') return this.finish(row, { status: 'done' });
          // Refused: not applied there, so sent again (and parked as any refused copy if refused again).
          if (answer === 'refused') return this.giveBack(row, error, { sent: false, primaryOk, counted: true });
          return this.giveBack(row, new Error(unknowable(row.service)), { sent: true, primaryOk, counted: true, park: true });
        }
        this.unknowns.set(row.id, { on, at: Date.now() });
        return this.giveBack(row, error, { sent: true, primaryOk, counted: true });
      }
      // A call that never left: the attempt is not counted and nothing is unknown.
      const notSent = isNotSent(error);
      return this.giveBack(row, error, { sent: false, primaryOk, counted: !notSent });
    }
  }

  /** Whether a newer claim of the row was attempted here: this one is not to be worked on. Notes this one's otherwise. */
  private staleClaim(row: OutboxRow): boolean {
    const now = Date.now();
    for (const [id, c] of this.attemptedClaims) {
      if (now - c.at < CLAIM_MEMORY_MS) break;
      this.attemptedClaims.delete(id);
    }
    const newest = this.attemptedClaims.get(row.id);
    if (newest && row.attempts < newest.attempts) return true;
    this.attemptedClaims.delete(row.id);
    this.attemptedClaims.set(row.id, { attempts: row.attempts, at: now });
    return false;
  }

  /**
   * What a call's late reply says, waited for under the claim within the lease (`lost`: the claim was lost meanwhile):
   * `none` where it did not come by then, or this process stops first (a shutdown does not wait for a hung backend; the
   * reply would no longer be heard here).
   */
  private async heard(row: OutboxRow, claim: { lastKept: number }, answer: Promise<LateAnswer>): Promise<LateAnswer | 'lost'> {
    let end!: () => void;
    const stopped = new Promise<'none'>((r) => (end = () => r('none')));
    if (this.stopped) end();
    else this.onStop.add(end);
    try {
      const told = Promise.race([answer, stopped]);
      const waited = await this.outlive(row, claim, told, this.o.leaseMs);
      return waited === 'lost' ? 'lost' : waited === 'ended' ? await told : 'none';
    } finally {
      this.onStop.delete(end);
    }
  }

  /**
   * Waits for `settled` (a translation past its deadline ends: each of its steps is bounded; a primary call's late
   * reply), the claim kept meanwhile so that no other replica looks the write up early: `lost` when the claim was lost
   * all the same, `waited` when `withinMs` passed first.
   */
  private async outlive(row: OutboxRow, claim: { lastKept: number }, settled: Promise<unknown>, withinMs = Infinity): Promise<'ended' | 'lost' | 'waited'> {
    const ended = settled.then(() => true);
    const until = Date.now() + withinMs;
    while (!(await Promise.race([ended, sleep(Math.min(this.o.leaseMs / 3, until - Date.now())).then(() => false)]))) {
      if (Date.now() >= until) return 'waited';
      try {
        await this.keep(row, claim);
      } catch (err) {
        if (err instanceof ClaimLost) {
          log.warn({ id: row.id }, LOST_CLAIM);
          return 'lost';
        }
        // Waited for all the same: a translation's calls end before anyone's look-up should begin.
        if (!(err instanceof NotAlive)) this.o.onStoreError(err);
      }
    }
    return 'ended';
  }

  /**
   * Renews the claim when a third of its lease is gone, so no other replica takes the write while it is worked on.
   * Before each step that may send: while this process cannot tell its owner lock held (another replica may be taking
   * its writes over), it waits for the lock, then makes sure the claim is still its own. The key stays busy here
   * meanwhile: its write has not landed.
   */
  private async keep(row: OutboxRow, claim: { lastKept: number }): Promise<void> {
    let waited = false;
    while (this.o.alive?.() === false) {
      if (this.stopped) throw new NotAlive();
      waited = true;
      await sleep(ALIVE_WAIT_MS);
    }
    if (!waited && Date.now() - claim.lastKept < this.o.leaseMs / 3) return;
    if (!(await this.o.table.extend(row.id, this.o.owner, this.o.leaseMs))) throw new ClaimLost();
    claim.lastKept = Date.now();
  }

  private resolved(route: Route, side: Side, role: 'primary' | 'secondary', found: Found, since: number): void {
    if (found !== 'applied' && found !== 'absent') return;
    this.o.observer.unknownResolved({ service: route.service, action: route.action, side, role, applied: found === 'applied', resolveMs: Date.now() - since });
  }

  /** Records the write finished (applied, or dropped) and takes its key's next write. */
  private async finish(row: OutboxRow, end: Completion['end']): Promise<OutboxRow | undefined> {
    const item: Finishing = { id: row.id, ...this.known(row.service, row.key), end, row };
    await this.persist(() => this.completions.add(item));
    const r = item.outcome;
    if (r && !r.completed) log.warn({ id: row.id }, LOST_CLAIM);
    this.unknowns.delete(row.id);
    this.finished(keyOf(row.service, row.key), row.id);
    return r?.next;
  }

  /** A batch of completions in one statement; a key twice (not expected: its pump finishes one write at a time), each alone. */
  private async complete(batch: Finishing[]): Promise<unknown[]> {
    // Those a failed batch had stored already are not stored again when retried.
    const open = batch.filter((f) => !f.outcome);
    for (const group of distinctKeys(open.map((f) => f.row)) ? [open] : open.map((f) => [f])) {
      if (!group.length) continue;
      const r = await this.o.table.completeAll(this.o.owner, this.o.leaseMs, group);
      for (const f of group) {
        const next = r.next.find((n) => n.service === f.row.service && n.key === f.row.key);
        f.outcome = { completed: r.completed.has(f.id), next };
      }
    }
    return [];
  }

  /** Gives a claimed write back after an attempt that did not finish it: retried after a backoff, or parked. */
  private async giveBack(
    row: OutboxRow,
    error: unknown,
    r: { sent: boolean; primaryOk: boolean | null; counted: boolean; park?: boolean },
    /** The side whose call failed. */
    failed: Side = row.side,
  ): Promise<undefined> {
    const d = r.park ? { park: true, delayMs: 0, error: describe(error) } : decide(row, error, this.o.policy);
    if (d.park)
      log.warn(
        { id: row.id, service: row.service, key: row.key, action: row.action, attempts: row.attempts, error: d.error },
        'secondary write parked as dead',
      );
    else {
      this.retries++;
      this.failing.add(failed);
    }
    // Its ack time, when this process saw the primary's: the next attempt (here or elsewhere) need not read legacy for it.
    const ackedAt = this.ownOf(row.service, row.key, row.id)?.ackedAt ?? null;
    const released = await this.persist(() => this.o.table.release(row.id, this.o.owner, { ...d, ...r, ackedAt }));
    if (released === false) log.warn({ id: row.id }, LOST_CLAIM);
    // Parked, it will not land on its own; retried, it may land through another replica: either way the
    // store says whether its key is busy from now on.
    this.finished(keyOf(row.service, row.key), row.id);
    return undefined;
  }

  private finished(k: string, id: string): void {
    const m = this.own.get(k);
    const own = m?.get(id);
    if (!own) return;
    m!.delete(id);
    if (!m!.size) this.own.delete(k);
    own.done();
  }

  /**
   * Records an attempt's outcome, retrying while the store is down: the write has happened (or failed),
   * and leaving the row inflight would have it looked up again once its lease ran out.
   */
  private async persist<T>(op: () => Promise<T>): Promise<T | undefined> {
    for (let n = 1; ; n++) {
      try {
        return await op();
      } catch (err) {
        this.o.onStoreError(err);
        if (this.stopped) return undefined;
        await sleep(backoffMs(n, { baseBackoffMs: 100, maxBackoffMs: 2_000 }));
      }
    }
  }

  private async poll(): Promise<void> {
    const room = this.o.batch - this.pumps.size;
    try {
      if (room > 0 && this.o.alive?.() !== false) {
        const rows = await this.o.table.claim({
          owner: this.o.owner,
          leaseMs: this.o.leaseMs,
          limit: room,
          services: this.o.services,
          ownerGoneMs: this.o.ownerGoneMs,
        });
        for (const row of rows) {
          // Claimed while stopping (kick takes nothing then): handed back now, not left to its lease (stop waits for this).
          if (this.stopped) await this.persist(() => this.o.table.unclaim(row, this.o.owner, 0));
          else this.kick(row.service, row.key, row);
        }
      }
      if (this.failing.size && this.o.probe && Date.now() - this.lastProbe > PROBE_EVERY_MS) {
        this.lastProbe = Date.now();
        for (const side of [...this.failing]) if (await this.o.probe(side)) await this.recovered(side);
      }
      if (this.purging || Date.now() - this.lastRetention > RETENTION_EVERY_MS) {
        this.lastRetention = Date.now();
        for (const [id, u] of this.unknowns) if (Date.now() - u.at > UNKNOWN_MEMORY_MS) this.unknowns.delete(id);
        // A few batches a tick: a backlog of finished writes is worked off over the next ticks, between claims.
        const { more } = await this.o.table.purge({ statuses: ['done', 'dropped'], olderThanMs: this.o.retainDoneMs, maxBatches: PURGE_BATCHES_PER_TICK });
        this.purging = more;
      }
    } catch (err) {
      this.o.onStoreError(err);
    }
  }

  /** The side answers again: what waits in backoff for it is due now rather than at the end of its backoff. */
  private async recovered(side: Side): Promise<void> {
    this.failing.delete(side);
    await this.o.table.wake(side);
  }
}

function routeOf(row: OutboxRow): Route {
  const routed = routeRequest(row.service, row.raw, Number.MAX_SAFE_INTEGER);
  if (!routed.ok) throw new UnreplayableWrite(`stored request cannot be replayed: ${routed.reason}`);
  return routed.route;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
