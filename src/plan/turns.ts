/**
 * The side each service's writes go to first as this replica's requests see it, the turns of it, and the sides watched
 * after one (and since the replica started) until the fleet's writes queued towards them have landed: what
 * src/plan/turned.ts asks before it serves a key about a turn.
 */
import type { ServiceName } from '../services/registry.js';
import { childLogger } from '../telemetry/log.js';
import { SIDES, type Side } from './plan.js';
import { keyOf as activityKey, towardsKey } from './secondary.js';

const log = childLogger('plan');

const EARLIER_QUEUED =
  'writes made before this replica started are on their way to this side: while it is written first and the state store cannot tell, keys this replica has not written are refused until they land';

/** How often a side turned to is asked about. */
const POLL_MS = 500;
/** Keys whose side written first is remembered (the most lately written): a few MB. */
const KEYS_KEPT = 100_000;

/**
 * How long a side turned to is watched at least: replicas see a turn up to a flags refresh apart (Unleash's, or the
 * guard's sync), and a write a replica not yet turned makes meanwhile goes first to the side this one turned from.
 */
export function turnWatchMs(refreshIntervalMs: number): number {
  return Math.max(10_000, 2 * refreshIntervalMs);
}

/** What Turns learns of the other replicas sharing the store (src/outbox/fleet.ts); without, this one is alone. */
export interface TurnFleet {
  /**
   * Whether another replica serves the service at another stage (FleetSettings.stageApart): it may have turned and
   * be writing keys first to the side this one reads first, a turn this one has not seen yet, so each side is asked
   * about as after a turn.
   */
  apart?: (service: ServiceName) => boolean;
  /** Other replicas that may serve agents meanwhile (FleetSettings.peers). */
  peers?: () => number;
  /** outbox.turnCopyWaitMs: the most a write's answer waits for its copy about a turn (copyWaitMs). */
  copyWaitMs?: number;
}

export class Turns {
  /** Each service's side written first, as its requests last had it. */
  private readonly first = new Map<ServiceName, Side>();
  /** Sides turned to and watched (by towardsKey), with when a watch may end at the earliest and a count that a new turn bumps. */
  private readonly watched = new Map<string, { service: ServiceName; side: Side; from: number; turn: number }>();
  /**
   * Sides (by towardsKey) with writes made before this replica started that may not have landed there: `told` once the
   * store has said so (unseen); gone once it says none is left.
   */
  private readonly earlier = new Map<string, { service: ServiceName; side: Side; told: boolean }>();
  private readonly startedAt: Date;
  private turnCount = 0;
  /** When each service's side written first last turned here. */
  private readonly turnedAt = new Map<ServiceName, number>();
  private polling = false;
  /** The store did not answer the last poll: a key's writes cannot be asked about either (wroteFirst tells instead). */
  private storeAway = false;
  /** Per key (keyOf), the side this replica last wrote it to first, while both sides are written. */
  private readonly firsts = new Map<string, Side>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    /** Whether any write of the service towards the side has not landed there, by any replica (made `before`, if given). */
    private readonly anyUnlanded: (service: ServiceName, side: Side, before?: Date) => Promise<boolean>,
    services: readonly ServiceName[],
    /** turnWatchMs of the flags' refresh interval. */
    private readonly watchAtLeastMs: number,
    /** outbox.whenCopiesLate: what a write does whose key's copies have not landed in time. */
    readonly whenCopiesLate: 'ahead' | 'refuse' = 'refuse',
    private readonly fleet: TurnFleet = {},
    private readonly now: () => number = Date.now,
  ) {
    // A replica that starts knows of no turn: each side is watched until none of the fleet's writes is queued towards it.
    for (const s of services) for (const side of SIDES) this.watch(s, side, 0);
    this.startedAt = new Date(this.now());
    for (const service of services) for (const side of SIDES) this.earlier.set(towardsKey(side, service), { service, side, told: false });
    this.timer = setInterval(() => void this.poll(), POLL_MS).unref();
  }

  /** Notes the side the service's writes now go to first; true while writes queued towards `side` may not have landed there. */
  lagging(service: ServiceName, first: Side, side: Side): boolean {
    if (this.first.get(service) !== first) {
      if (this.first.has(service)) {
        log.warn({ service, first }, 'writes now go first to this side: keys with writes still queued towards it are served by the other until they land');
        this.watch(service, first, this.now() + this.watchAtLeastMs);
        this.turnedAt.set(service, this.now());
      }
      this.first.set(service, first);
    }
    return (this.watched.size > 0 && this.watched.has(towardsKey(side, service))) || this.apart(service);
  }

  /**
   * How long a write's answer waits for its copy to land, at most: outbox.turnCopyWaitMs while the replicas may serve
   * the service at two stages (this one turned within the watch's least time, or another live one publishes another
   * stage) and another may serve the write's agent, since one that has not seen the turn yet reads first the side the
   * copy goes to (chaos seed 888: a read back there 30 ms before the copy landed); 0 otherwise.
   */
  copyWaitMs(service: ServiceName): number {
    const { copyWaitMs = 0, peers } = this.fleet;
    const at = this.turnedAt.get(service);
    // The steady state first: on the path of every dual-write.
    const turning = (at !== undefined && this.now() - at < this.watchAtLeastMs) || this.apart(service);
    return turning && peers !== undefined && peers() > 0 ? copyWaitMs : 0;
  }

  private apart(service: ServiceName): boolean {
    return this.fleet.apart?.(service) ?? false;
  }

  /** Whether the store did not answer the last poll. */
  get away(): boolean {
    return this.storeAway;
  }

  /** Notes the side a write of the key went to first (its copy queued towards the other). */
  wrote(service: ServiceName, key: string, first: Side): void {
    const k = activityKey(service, key);
    // Delete first, so the map's order is the writes' and the oldest key is the one let go.
    this.firsts.delete(k);
    this.firsts.set(k, first);
    if (this.firsts.size > KEYS_KEPT) this.firsts.delete(this.firsts.keys().next().value!);
  }

  /** The side this replica last wrote the key to first: the other may still lack its copies of those writes. */
  wroteFirst(service: ServiceName, key: string): Side | undefined {
    return this.firsts.get(activityKey(service, key));
  }

  /**
   * Whether copies of the key made before this replica started may still be on their way to `side`, unknown here: the
   * store told of the fleet's writes towards it made before then and not landed, and none was found landed since, and
   * this replica has not written the key (a process killed before it, chaos seed 797; a live replica's writes are
   * `outbox.whenStoreAway`'s). A replica that started with the store away knows of none.
   */
  unseen(service: ServiceName, key: string, side: Side): boolean {
    return this.earlier.get(towardsKey(side, service))?.told === true && !this.firsts.has(activityKey(service, key));
  }

  close(): void {
    clearInterval(this.timer);
  }

  private watch(service: ServiceName, side: Side, from: number): void {
    this.watched.set(towardsKey(side, service), { service, side, from, turn: ++this.turnCount });
  }

  private async poll(): Promise<void> {
    if (this.polling || !(this.watched.size || this.earlier.size)) return;
    this.polling = true;
    try {
      for (const [k, w] of [...this.watched]) {
        if (w.from > this.now()) continue;
        let some = true;
        try {
          some = await this.anyUnlanded(w.service, w.side);
          this.storeAway = false;
        } catch {
          this.storeAway = true;
        }
        // A turn noted meanwhile asks again.
        if (!some && this.watched.get(k)?.turn === w.turn) this.watched.delete(k);
      }
      // After the watches: while the store is away each question waits out its bound, and `away` should not wait on these.
      for (const [k, e] of [...this.earlier]) {
        const some = await this.anyUnlanded(e.service, e.side, this.startedAt).catch(() => undefined);
        if (some === false) this.earlier.delete(k);
        else if (some && !e.told) {
          e.told = true;
          log.info({ service: e.service, side: e.side }, EARLIER_QUEUED);
        }
      }
    } finally {
      this.polling = false;
    }
  }
}
