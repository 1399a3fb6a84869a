/**
 * Secondary writes: how one is applied (the other side, judged by the route's success rules), per-key
 * chains, and the in-memory queue used when the durable outbox (src/outbox/outbox.ts) is switched off.
 */
import type { ServiceName } from '../services/registry.js';
import type { SuccessRule } from '../services/service.js';
import { randomUUID } from 'node:crypto';
import type { ExecutionObserver } from './observer.js';
import type { Side } from './plan.js';
import type { Route } from '../routes/route.js';
import { callSide, LateTranslation, type SideOptions } from './sides.js';
import { parseReply, type Observation } from '../comparison/observation.js';
import { isUnknownOutcome, LegError } from '../legs/types.js';
import { isSuccess } from './success.js';
import { KeyChains } from '../util/key-chains.js';
import { NameCounts } from '../util/name-counts.js';

export interface SecondaryWrite {
  route: Route;
  /** The side to write second. */
  side: Side;
  /**
   * Called once the key no longer needs holding busy here: the write landed on the secondary, was dropped,
   * or is left to the store (which tells every replica whether the key has writes not landed).
   */
  done(): void;
  /** Hears the secondary's reply when the write lands there from this process (a mutating read is compared then). */
  landed?(reply: Observation): void;
}

/**
 * What the primary call did: applied it; refused it (or never sent it); or left its outcome unknown on a connection,
 * with, from a legacy side, what its late reply says once the call ends there (`none`: no reply came).
 */
export type PrimaryOutcome = 'applied' | 'refused' | { unknownOn: number | undefined; late?: Promise<LateAnswer> };
export type LateAnswer = 'applied' | 'refused' | 'none';

/** A secondary write taken over before its primary call, waiting for that call's outcome. */
export interface PendingWrite {
  /** The write's id, carried by the primary call too when the primary is the orchestrator (so it can be found). */
  readonly writeId: string | undefined;
  /** Set when the write must not be sent at all (its intent could not be stored, and writes are refused then). */
  readonly refusal?: Error;
  /**
   * The key has writes on their way to the side this write goes to first (copies another replica made first on the
   * other side, about a turn this process has not yet seen): the write waits for them (turned.ts afterCopies).
   */
  readonly behindCopies?: true;
  settle(outcome: PrimaryOutcome): void;
}

/**
 * Applies one secondary write (tagged with `writeId` where the side keeps tags; `at`, when its primary took it,
 * is the record's legacy time); rejects when it failed or the side refused it.
 */
/** `at`: the record's time on the primary as memshift saw it; `stamp`: its exact time there, when a look-up read it. */
export type ApplyWrite = (route: Route, side: Side, writeId?: string, at?: Date, stamp?: unknown) => Promise<Observation>;

/**
 * What a question about a key's copies answers where the store cannot tell: that answer; 'refuse', a LegError where
 * another replica may have written the key (by `outbox.whenStoreAway`), else false; 'refuse-any', a LegError (copies an
 * earlier process made of the key may be on their way: src/plan/turned.ts).
 */
export type Untold = boolean | 'refuse' | 'refuse-any';

/** Where the runner hands secondary writes: the durable outbox, or in memory when it is switched off. */
export interface SecondaryWrites {
  /**
   * Takes a secondary write over before its primary call, behind every earlier one for the same key
   * (with the outbox: once its intent is stored, so a crash between the primary and the secondary loses
   * nothing). Resolves when the primary may be called; never rejects.
   */
  open(write: SecondaryWrite): Promise<PendingWrite>;
  /** Whether the key has a write towards `side` not landed there yet, by any replica; `unknown` when that cannot be told. */
  unlanded(service: ServiceName, key: string, side: Side, unknown?: boolean): Promise<boolean>;
  /**
   * Whether any write of the service towards `side` has not landed there yet, by any replica (made `before`, if given:
   * by an earlier process too); rejects when that cannot be told.
   */
  anyUnlanded(service: ServiceName, side: Side, before?: Date): Promise<boolean>;
  /**
   * Whether the key has a write towards `side` on its way there, by any replica: its primary applied it (or has not
   * answered yet), its copy not landed (one waiting on its primary's unknown outcome is not, but for a clear: the key's
   * later writes made there first, its copy would empty the side of them); when that cannot be told, `unknown` (false
   * unless given).
   */
  copying(service: ServiceName, key: string, side: Side, unknown?: Untold): Promise<boolean>;
  /**
   * Whether `side` lacks a write of the key its agent may have been told of (what a read there would miss): one
   * `copying` counts (a clear of unknown outcome aside), or one parked; `unknown` (true unless given) when that cannot
   * be told: a read about a turn that cannot learn of other processes' copies fails ('refuse') rather than answers stale.
   */
  lacks(service: ServiceName, key: string, side: Side, unknown?: Untold): Promise<boolean>;
  /** Resolves when every write taken so far has had its first attempt (tests, shutdown). */
  drain(): Promise<void>;
  stats(): Promise<SecondaryStats>;
  close(): Promise<void>;
}

export interface SecondaryStats {
  /** Writes not yet applied: pending and in flight, durable and in memory. */
  depth: number;
  /** Age of the oldest of them; 0 when there is none. */
  oldestAgeMs: number;
  /** Failed attempts that were rescheduled, by this process (monotonic). */
  retries: number;
  /** Writes parked as dead. */
  parked: number;
  /** Held in memory while the state store is down. */
  memoryQueued: number;
  /** Their requests' bytes (bounded by outbox.memoryQueueMaxBytes). */
  memoryQueuedBytes: number;
  /** Lost: the in-memory queue was full, or the store refused the write's data (each logged with its key). */
  overflowed: number;
  /** Keys whose writes held in memory (the store away) were overtaken by later ones another replica stored (each logged). */
  reordered: number;
  /** False while the state store is unreachable. */
  storeUp: boolean;
}

/** The secondary side answered, but not with success (e.g. the legacy service refused a replayed write). */
export class WriteRefused extends Error {
  constructor(readonly reply: Observation) {
    super(`secondary ${reply.side} side refused the write: ${reply.bytes.toString('utf8').slice(0, 200)}`);
  }
}

/** What a write call's late reply (LegError.late) says: `read`, a mutating read, has had its effect once answered. */
export const lateAnswer = (late: Promise<Buffer | undefined>, read: boolean, rules: SuccessRule[]): Promise<LateAnswer> =>
  late.then((reply) => (reply === undefined ? 'none' : read || isSuccess(parseReply(reply), rules) ? 'applied' : 'refused'));

/** A copy's call to a legacy service left unanswered (its outcome unknown), with what its late reply says once it ends. */
export class UnknownCopy extends LegError {
  constructor(
    err: LegError,
    readonly answer: Promise<LateAnswer>,
  ) {
    super(err.failure, err.message, err.endpoint, err.late);
  }
}

export function writeApplier(sides: (s: ServiceName) => SideOptions, rules: (s: ServiceName) => SuccessRule[]): ApplyWrite {
  return async (route, side, writeId, at, stamp) => {
    // createMissing: the primary accepted the write, so a session the secondary lacks is made on first use.
    const ctx = { createMissing: true, ...(writeId ? { writeId } : {}), ...(at ? { at } : {}), ...(stamp === undefined ? {} : { stamp }) };
    const reply = await callSide(side, route, sides(route.service), ctx).catch((err: unknown) => {
      // Legacy's own request went out as it is: its late reply is this write's (the new side's calls are a translation's).
      if (side !== 'legacy' || !isUnknownOutcome(err) || !(err instanceof LegError) || !err.late) throw err;
      throw new UnknownCopy(err, lateAnswer(err.late, route.spec?.kind === 'read', rules(route.service)));
    });
    // A mutating read carried as a write has had its effect once answered; a write is judged by its success rules.
    if (route.spec?.kind !== 'read' && !isSuccess(reply.value, rules(route.service))) throw new WriteRefused(reply);
    return reply;
  };
}

/** A side, a service and (for one key's count) a key, as InMemoryWrites counts the writes towards each. */
/** The name a write waiting to land is counted by: its side and service, and with its key. */
export const towardsKey = (side: Side, service: string, key?: string): string => (key === undefined ? `${side}/${service}` : `${side}/${keyOf(service, key)}`);

/** Keys are per service: two services may use the same session id for unrelated records. */
export const keyOf = (service: string, key: string | undefined): string => `${service}/${key ?? ''}`;

/** Whether no two items share a key (a batch that can go as one statement). */
export const distinctKeys = (items: readonly { service: string; key: string }[]): boolean =>
  new Set(items.map((i) => keyOf(i.service, i.key))).size === items.length;

/**
 * Per-key ordered, in memory only: a write is queued once its primary applied it; a failed write is reported
 * and lost, a crash loses what is queued, and a write whose primary outcome is unknown is not followed up.
 */
export class InMemoryWrites implements SecondaryWrites {
  private readonly chains = new KeyChains();
  /** Writes taken and not yet attempted, with when they were taken. */
  private readonly queued = new Map<SecondaryWrite, number>();
  /** How many of them go to each side, per key and per service. */
  private readonly towards = new NameCounts();

  constructor(
    private readonly apply: ApplyWrite,
    private readonly observer: ExecutionObserver,
  ) {}

  async open(write: SecondaryWrite): Promise<PendingWrite> {
    const writeId = randomUUID();
    return {
      writeId,
      settle: (outcome) => {
        if (outcome === 'applied') this.enqueue(write, writeId, new Date());
        else write.done();
      },
    };
  }

  // Held only in this process: its queue is all there is to know.
  async unlanded(service: ServiceName, key: string, side: Side): Promise<boolean> {
    return this.towards.has(towardsKey(side, service, key));
  }

  // Every write queued here was made by this process: none before it started.
  async anyUnlanded(service: ServiceName, side: Side, before?: Date): Promise<boolean> {
    return !before && this.towards.has(towardsKey(side, service));
  }

  // Queued once the primary applied it: every write held is on its way.
  copying(service: ServiceName, key: string, side: Side): Promise<boolean> {
    return this.unlanded(service, key, side);
  }

  lacks(service: ServiceName, key: string, side: Side): Promise<boolean> {
    return this.unlanded(service, key, side);
  }

  private count(write: SecondaryWrite, by: 1 | -1): void {
    this.towards.add([towardsKey(write.side, write.route.service, write.route.key ?? ''), towardsKey(write.side, write.route.service)], by);
  }

  private enqueue(write: SecondaryWrite, writeId: string, at: Date): void {
    const { route, side } = write;
    this.queued.set(write, Date.now());
    this.count(write, 1);
    void this.chains.run(keyOf(route.service, route.key), async () => {
      const t0 = performance.now();
      try {
        const reply = await this.apply(route, side, writeId, at);
        write.landed?.(reply);
        this.observer.secondaryWritten({ route, side, ok: true, latencyMs: reply.latencyMs });
      } catch (error) {
        this.observer.secondaryWritten({ route, side, ok: false, latencyMs: performance.now() - t0, error });
        // A translation still under way past its deadline may yet send calls: no agent waits here, so the key does.
        if (error instanceof LateTranslation) await error.settled;
      } finally {
        this.queued.delete(write);
        this.count(write, -1);
        write.done();
      }
    });
  }

  drain(): Promise<void> {
    return this.chains.idle();
  }

  async stats(): Promise<SecondaryStats> {
    // Insertion order: the first entry is the oldest.
    const oldest = this.queued.values().next().value;
    return {
      depth: this.queued.size,
      oldestAgeMs: oldest === undefined ? 0 : Date.now() - oldest,
      retries: 0,
      parked: 0,
      memoryQueued: this.queued.size,
      memoryQueuedBytes: 0,
      overflowed: 0,
      reordered: 0,
      storeUp: true,
    };
  }

  close(): Promise<void> {
    return this.drain();
  }
}
