/**
 * What replicas sharing a store must agree on (`outbox.keyOrder`, each leg's `maxInFlight`, each service's stage),
 * published by each replica and compared with the others': a disagreement is logged, gauged and shown in
 * /admin/status, and every barrier is sized for the largest bound a replica published within `outbox.maxAgeMs`,
 * since a write taken over may have been sent by any of them (a barrier shorter than the sender's bound can end
 * before its request).
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { Config } from '../config.js';
import type { ServiceName } from '../services/registry.js';
import { legBound } from './resolve.js';
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

interface Member {
  replica: string;
  ageMs: number;
  settings: SharedSettings;
}

export interface FleetOptions {
  /** How often this replica publishes its settings and reads the others'; one seen within three of these is live. */
  everyMs: number;
  /** How long a replica's bounds size the barriers after it was last seen (the age at which open writes are parked). */
  keepMs: number;
}

export class FleetSettings {
  private members: Member[] = [];
  private timer: NodeJS.Timeout | undefined;
  private reported = '';
  /** When this replica last exchanged settings with the store, and how much longer than a publication it had waited for that. */
  private answeredAt: number | undefined;
  private awayMs = 0;
  private exchanging = false;
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

  /** Live replicas' settings that differ from this one's, each as a sentence naming the replica. */
  disagreements(): string[] {
    const out: string[] = [];
    const stages = this.stages();
    for (const m of this.members) {
      if (!this.isLive(m)) continue;
      if (m.settings.keyOrder !== this.own.keyOrder) out.push(`outbox.keyOrder: ${this.own.keyOrder} here, ${m.settings.keyOrder} on ${m.replica}`);
      for (const [service, there] of Object.entries(m.settings.stages ?? {}))
        if (stages[service] !== undefined && stages[service] !== there) out.push(`${service} stage: ${stages[service]} here, ${there} on ${m.replica}`);
      for (const leg of new Set([...Object.keys(this.own.maxInFlight), ...Object.keys(m.settings.maxInFlight)])) {
        const [here, there] = [this.own.maxInFlight[leg], m.settings.maxInFlight[leg]];
        if (here !== undefined && there !== undefined && here !== there) out.push(`${leg} maxInFlight: ${here} here, ${there} on ${m.replica}`);
      }
    }
    return out;
  }

  /** Replicas seen within three publications, this one included. */
  live(): number {
    return 1 + this.members.filter((m) => this.isLive(m)).length;
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

  /** Publishes this replica's settings and reads the others' (one exchange at a time: the next waits for the store with it). */
  async exchange(): Promise<void> {
    if (this.exchanging) return;
    this.exchanging = true;
    try {
      await this.pool.query(
        `INSERT INTO fleet_settings (replica, settings) VALUES ($1, $2)
         ON CONFLICT (replica) DO UPDATE SET seen_at = now(), settings = EXCLUDED.settings`,
        [this.replica, { ...this.own, stages: this.stages() }],
      );
      await this.pool.query(`DELETE FROM fleet_settings WHERE seen_at < now() - make_interval(secs => $1::double precision / 1000)`, [this.opts.keepMs]);
      const { rows } = await this.pool.query<{ replica: string; age_ms: number; settings: SharedSettings }>(
        `SELECT replica, extract(epoch FROM now() - seen_at) * 1000 AS age_ms, settings FROM fleet_settings WHERE replica <> $1`,
        [this.replica],
      );
      const now = Date.now();
      this.awayMs = this.answeredAt === undefined ? 0 : Math.max(0, now - this.answeredAt - this.opts.everyMs);
      this.answeredAt = now;
      this.members = rows.map((r) => ({ replica: r.replica, ageMs: Number(r.age_ms), settings: r.settings }));
    } catch (err) {
      // The store away: what was read last stands (a barrier only ever grows from it).
      log.debug({ err }, 'fleet settings not exchanged');
      return;
    } finally {
      this.exchanging = false;
    }
    this.report();
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

/** This process's member of the fleet, publishing the settings `config` gives the legs of `services`, and their stages. */
export function fleetSettingsFor(config: Config, pool: pg.Pool, services: readonly ServiceName[], stages: () => Record<string, string>): FleetSettings {
  const maxInFlight = Object.fromEntries(services.flatMap((s) => SIDES.map((side) => [`${s}/${side}`, legBound(config, s, side)])));
  // Named per process, as the guard's fleet: a restarted replica is a new member, its predecessor's row kept a while.
  return new FleetSettings(
    pool,
    `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
    { keyOrder: config.outbox.keyOrder, maxInFlight },
    {
      everyMs: config.outbox.fleetEveryMs,
      keepMs: config.outbox.maxAgeMs,
    },
    stages,
  );
}
