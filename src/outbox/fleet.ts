/**
 * What replicas sharing a store must agree on (`outbox.keyOrder`, each leg's `maxInFlight`, each service's stage),
 * published by each replica and compared with the others': a disagreement is logged, gauged and shown in
 * /admin/status, and every barrier is sized for the largest bound a replica published within `outbox.maxAgeMs`,
 * since a write taken over may have been sent by any of them (a barrier shorter than the sender's bound can end
 * before its request). Published with them: what tells the others that a replica lives and knows of them, for
 * `outbox.whenStoreAway: hold-alone` (peers(), and introduce() before a replica that starts serves).
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { Config } from '../config.js';
import type { ServiceName } from '../services/registry.js';
import { legBound } from './resolve.js';
import { ownerLockHeld } from './owner-lock.js';
import { withDeadline } from '../util/deadline.js';
import { SIDES, type Side } from '../plan/plan.js';
import { childLogger } from '../telemetry/log.js';
import { defineGauge } from '../telemetry/metrics.js';

const log = childLogger('outbox.fleet');

const disagreeing = defineGauge('memshift.fleet.disagreements', {
  description: "What live replicas sharing the store have apart from this one (outbox.keyOrder, legs' maxInFlight, services' stages)",
  combine: 'max',
});

export interface SharedSettings {
  keyOrder: string;
  /** Each leg's bound, by `service/side`. */
  maxInFlight: Record<string, number>;
  /**
   * Each service's stage as this replica serves it, when it published (flags from files each replica reads on its
   * own, a ConfigMap mounted by subPath that running pods never see change, a guard rollback not followed).
   */
  stages?: Record<string, string>;
}

/** What a replica publishes: the shared settings, and what lets the others tell it died or knows of them. */
interface Published extends SharedSettings {
  /** Its outbox owner's name: the owner's lock held means the replica lives (owner-lock.ts). */
  owner?: string;
  /** The store's time of its last read of the others: a replica published before then is known to it. */
  readAt?: string;
}

interface Member {
  replica: string;
  ageMs: number;
  settings: SharedSettings;
  /** Its outbox owner's lock: held (it lives, paused or not), gone (it died), or unknown (it named no owner). */
  lock: 'held' | 'gone' | 'unknown';
  /** It has read the others since this replica's first publication was in the store. */
  knows: boolean;
}

export interface FleetOptions {
  /** How often this replica publishes its settings and reads the others'; one seen within three of these is live. */
  everyMs: number;
  /** How long a replica's bounds size the barriers after it was last seen (the age at which open writes are parked). */
  keepMs: number;
  /** This replica's outbox owner, published so that the others tell its death by its lock rather than by its row's age. */
  owner?: string;
}

/** How often a replica that starts reads the others while it waits for them to know of it (introduce()). */
const INTRODUCE_POLL_MS = 200;

export class FleetSettings {
  private members: Member[] = [];
  private timer: NodeJS.Timeout | undefined;
  private reported = '';
  /** When this replica last exchanged settings with the store, and how much longer than a publication it had waited for that. */
  private answeredAt: number | undefined;
  private awayMs = 0;
  /** The store's time of this replica's last read of the others, and of its first (its row was in the store by then). */
  private readAt: string | undefined;
  private introducedAt: string | undefined;
  private exchanging = false;
  /** Services a live replica published another stage for at the last exchange (stageApart). */
  private apart = new Set<string>();
  private readonly removeGauge: () => void;

  constructor(
    private readonly pool: pg.Pool,
    readonly replica: string,
    private readonly own: SharedSettings,
    private readonly opts: FleetOptions,
    /** Each service's stage now, published with the settings and compared with the others'. */
    private readonly stages: () => Record<string, string>,
  ) {
    this.removeGauge = disagreeing.addSource(() => [{ value: this.disagreements().length, attributes: {} }]);
  }

  start(): this {
    void this.exchange();
    this.timer = setInterval(() => void this.exchange(), this.opts.everyMs).unref();
    return this;
  }

  /**
   * Waits until every other live replica has read the others since this one's first publication, within four
   * publications (a replica paused, or dead without its lock, ages out within three): a replica that does not know of
   * this one would hold writes in memory as if alone while the store is away (`outbox.whenStoreAway: hold-alone`), and
   * this one's writes of the same keys would overtake them. A store that does not answer the first exchange within a
   * publication is not waited for: nobody can learn of this replica meanwhile. True when they all know of it.
   */
  async introduce(): Promise<boolean> {
    const until = performance.now() + 4 * this.opts.everyMs;
    for (;;) {
      const bound = Math.min(until - performance.now(), this.opts.everyMs);
      const answered = await withDeadline(this.exchange(), Math.max(0, bound), () => new Error('no answer')).catch(() => false);
      const waiting = this.members.filter((m) => this.isLive(m) && m.lock !== 'gone' && !m.knows).map((m) => m.replica);
      if (answered && waiting.length === 0) return true;
      if (this.introducedAt === undefined || performance.now() >= until) {
        log.warn(
          { replica: this.replica, waiting },
          this.introducedAt === undefined
            ? 'serving before the other replicas can know of this one: the store does not answer (while it is away a key spread over replicas may be reordered)'
            : 'serving before every other replica knows of this one (a store outage now could reorder a key spread over replicas)',
        );
        return false;
      }
      await sleep(INTRODUCE_POLL_MS);
    }
  }

  /** Live replicas' settings that differ from this one's, each as a sentence naming the replica. */
  disagreements(): string[] {
    const out: string[] = [];
    const stages = this.stages();
    for (const m of this.members) {
      if (!this.isLive(m)) continue;
      if (m.settings.keyOrder !== this.own.keyOrder) out.push(`outbox.keyOrder: ${this.own.keyOrder} here, ${m.settings.keyOrder} on ${m.replica}`);
      for (const service of stagesApart(stages, m)) out.push(`${service} stage: ${stages[service]} here, ${m.settings.stages![service]} on ${m.replica}`);
      for (const leg of new Set([...Object.keys(this.own.maxInFlight), ...Object.keys(m.settings.maxInFlight)])) {
        const [here, there] = [this.own.maxInFlight[leg], m.settings.maxInFlight[leg]];
        if (here !== undefined && there !== undefined && here !== there) out.push(`${leg} maxInFlight: ${here} here, ${there} on ${m.replica}`);
      }
    }
    return out;
  }

  /**
   * Whether a live replica published another stage for the service than this one had at the last exchange: one of
   * them has seen a turn the other has not yet (flag reads apart), and the first may be writing its keys first to
   * the side the other reads (src/plan/turned.ts asks about them then).
   */
  stageApart(service: string): boolean {
    return this.apart.has(service);
  }

  /** Replicas seen within three publications, this one included. */
  live(): number {
    return 1 + this.members.filter((m) => this.isLive(m)).length;
  }

  /**
   * Other replicas that may write meanwhile (`outbox.whenStoreAway: hold-alone`): live ones, and any that held its owner
   * lock when last read however long it has not published, as a paused one does (it serves again the moment it resumes,
   * before the others read its next publication).
   */
  peers(): number {
    return this.members.filter((m) => this.isLive(m) || m.lock === 'held').length;
  }

  /**
   * Seen within three publications, the time the store was away before this replica's last exchange not counted: no
   * replica publishes then, and one read just after the store's return, before the others' next publications, found
   * them gone (a replica then held writes in memory as if alone, `outbox.whenStoreAway: hold-alone`, and they were
   * overtaken: `npm run chaos` with the store paused 3 s every few seconds, eight keys of one run).
   */
  private isLive(m: Member): boolean {
    return m.ageMs <= 3 * this.opts.everyMs + this.awayMs;
  }

  /** `own`'s barrier, or one ping more than the largest bound another replica published for the leg, if larger. */
  barrierPings(own: (service: ServiceName, side: Side) => number): (service: ServiceName, side: Side) => number {
    return (service, side) => Math.max(own(service, side), ...this.members.map((m) => (m.settings.maxInFlight[`${service}/${side}`] ?? 0) + 1));
  }

  /** Leaves this replica's row: its bounds still size the others' barriers for its writes they take over. */
  close(): void {
    clearInterval(this.timer);
    this.removeGauge();
  }

  /**
   * Publishes this replica's settings and reads the others' (one exchange at a time: the next waits for the store with
   * it); true when the store answered.
   */
  async exchange(): Promise<boolean> {
    if (this.exchanging) return false;
    this.exchanging = true;
    try {
      const published: Published = {
        ...this.own,
        stages: this.stages(),
        ...(this.opts.owner ? { owner: this.opts.owner } : {}),
        ...(this.readAt ? { readAt: this.readAt } : {}),
      };
      await this.pool.query(
        `INSERT INTO fleet_settings (replica, settings) VALUES ($1, $2)
         ON CONFLICT (replica) DO UPDATE SET seen_at = now(), settings = EXCLUDED.settings`,
        [this.replica, published],
      );
      await this.pool.query(`DELETE FROM fleet_settings WHERE seen_at < now() - make_interval(secs => $1::double precision / 1000)`, [this.opts.keepMs]);
      // The read's time comes with it even where no other replica is there: the LEFT JOIN's one row.
      const { rows } = await this.pool.query<{
        at: string;
        replica: string | null;
        age_ms: number;
        settings: SharedSettings;
        lock: Member['lock'];
        knows: boolean | null;
      }>(
        `SELECT n.at::text AS at, f.replica, extract(epoch FROM n.at - f.seen_at) * 1000 AS age_ms, f.settings,
           CASE WHEN f.settings->>'owner' IS NULL THEN 'unknown' WHEN ${ownerLockHeld("f.settings->>'owner'")} THEN 'held' ELSE 'gone' END AS lock,
           (f.settings->>'readAt')::timestamptz > COALESCE($2::timestamptz, n.at) AS knows
         FROM (SELECT now() AS at) n LEFT JOIN fleet_settings f ON f.replica <> $1`,
        [this.replica, this.introducedAt ?? null],
      );
      const now = Date.now();
      this.awayMs = this.answeredAt === undefined ? 0 : Math.max(0, now - this.answeredAt - this.opts.everyMs);
      this.answeredAt = now;
      this.readAt = rows[0]!.at;
      this.introducedAt ??= this.readAt;
      this.members = rows.flatMap((r) =>
        r.replica === null ? [] : [{ replica: r.replica, ageMs: Number(r.age_ms), settings: r.settings, lock: r.lock, knows: r.knows === true }],
      );
      this.apart = new Set(this.members.filter((m) => this.isLive(m)).flatMap((m) => stagesApart(published.stages!, m)));
    } catch (err) {
      // The store away: what was read last stands (a barrier only ever grows from it).
      log.debug({ err }, 'fleet settings not exchanged');
      return false;
    } finally {
      this.exchanging = false;
    }
    this.report();
    return true;
  }

  private report(): void {
    const now = this.disagreements();
    const key = now.join('\n');
    if (key === this.reported) return;
    this.reported = key;
    if (now.length)
      log.error(
        { disagreements: now },
        'replicas sharing this store disagree on what they must share: a key spread over them may be reordered (keyOrder), ' +
          'barriers are sized for the largest bound (maxInFlight), agents are served at two stages (stage); give every replica ' +
          'the same configuration and flags',
      );
    else log.info('replicas sharing this store agree on their shared settings again');
  }
}

/**
 * This process's member of the fleet, publishing the settings `config` gives the legs of `services`, their stages, and
 * the name of its outbox's `owner`.
 */
export function fleetSettingsFor(
  config: Config,
  pool: pg.Pool,
  services: readonly ServiceName[],
  stages: () => Record<string, string>,
  owner: string,
): FleetSettings {
  const maxInFlight = Object.fromEntries(services.flatMap((s) => SIDES.map((side) => [`${s}/${side}`, legBound(config, s, side)])));
  // Named per process, as the guard's fleet: a restarted replica is a new member, its predecessor's row kept a while.
  return new FleetSettings(
    pool,
    `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
    { keyOrder: config.outbox.keyOrder, maxInFlight },
    {
      everyMs: config.outbox.fleetEveryMs,
      keepMs: config.outbox.maxAgeMs,
      owner,
    },
    stages,
  );
}

/** The services whose stage `m` published differs from the one in `stages`. */
const stagesApart = (stages: Record<string, string>, m: Member): string[] =>
  Object.entries(m.settings.stages ?? {}).flatMap(([service, there]) => (stages[service] !== undefined && stages[service] !== there ? [service] : []));
