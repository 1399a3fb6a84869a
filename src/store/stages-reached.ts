/** The furthest stage each service was served at, by any replica, as the replicas record it in the store. */
import type pg from 'pg';
import { STAGES, type Stage } from '../flags/stage.js';
import type { ServiceName } from '../services/registry.js';
import { coalesced } from '../util/coalesce.js';

export interface Reached {
  stage: Stage;
  /** When a replica first served it there. */
  at: Date;
}

/** The stages' order along the migration; the kill switch is no step of it. */
const rank = (stage: Stage): number => (stage === 'killed' ? -1 : STAGES.indexOf(stage));

/**
 * A service served past off has its writes on the orchestrator: a later write to legacy alone (dual-write turned off,
 * a flags file back to its defaults) leaves the orchestrator behind, and a replica serving it at off again may be
 * reading flags reset by mistake. Each stage served is noted when the flags change, stored at the
 * next flush only when further than the one stored, and read back at each flush, so every replica knows the furthest.
 */
export class StagesReached {
  private noted = new Map<ServiceName, Stage>();
  private known = new Map<ServiceName, Reached>();

  constructor(private readonly pool: pg.Pool) {}

  /** `service` is served at `stage` here. */
  note(service: ServiceName, stage: Stage): void {
    if (rank(stage) <= rank(this.known.get(service)?.stage ?? 'off')) return;
    this.noted.set(service, stage);
    this.known.set(service, { stage, at: new Date() });
  }

  /** The furthest stage `service` was served at, as last read (or noted here). */
  of(service: ServiceName): Reached | undefined {
    return this.known.get(service);
  }

  /** Whether `service` was ever served past off: the orchestrator holds its writes. */
  migrated(service: ServiceName): boolean {
    return this.known.has(service);
  }

  /** Stores the stages noted since the last flush, then reads every service's back; what fails is kept for the next. One at a time. */
  readonly flush = coalesced(() => this.write());

  private async write(): Promise<void> {
    const noted = this.noted;
    this.noted = new Map();
    try {
      if (noted.size)
        await this.pool.query(
          `INSERT INTO stages_reached (service, stage, rank) SELECT * FROM unnest($1::text[], $2::text[], $3::int[])
           ON CONFLICT (service) DO UPDATE SET stage = EXCLUDED.stage, rank = EXCLUDED.rank, at = now() WHERE stages_reached.rank < EXCLUDED.rank`,
          [[...noted.keys()], [...noted.values()], [...noted.values()].map(rank)],
        );
      const { rows } = await this.pool.query<{ service: ServiceName; stage: Stage; at: Date }>('SELECT service, stage, at FROM stages_reached');
      for (const r of rows) if (rank(r.stage) >= rank(this.known.get(r.service)?.stage ?? 'off')) this.known.set(r.service, { stage: r.stage, at: r.at });
    } catch {
      // The store away: the notes wait for the next flush.
      for (const [service, stage] of noted) if (!this.noted.has(service)) this.noted.set(service, stage);
    }
  }
}
