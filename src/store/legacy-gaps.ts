/** Services whose legacy store missed writes (served at complete, legacy no longer written), as the replicas record them in the store. */
import type pg from 'pg';
import type { ServiceName } from '../services/registry.js';

/** The command that closes a gap, once legacy is written again (new-primary). */
export const repairFromNew = (service: ServiceName): string => `memshift reconcile --service ${service} --repair --truth new`;

export interface LegacyGap {
  /** The first write legacy did not get. */
  since: Date;
  /** The latest one recorded (each replica's, at its store flush after the write). */
  lastAt: Date;
}

/**
 * A write served at complete reaches the orchestrator only. Once such a write is served, legacy is behind until a
 * repair copies the orchestrator's keys onto it: reading legacy serves stale data, and copying legacy over the
 * orchestrator (a repair with legacy as the truth, a backfill) undoes acknowledged writes. Noted per write (a set
 * lookup), stored at the next flush, so `last_at` is never earlier than a write it covers; read back at each flush, so
 * every replica knows the gaps the others found.
 */
export class LegacyGaps {
  private noted = new Set<ServiceName>();
  private known = new Map<ServiceName, LegacyGap>();

  constructor(private readonly pool: pg.Pool) {}

  /** A write of `service` was served without legacy. */
  note(service: ServiceName): void {
    this.noted.add(service);
    // Known here at once (the guard may act before the next flush); the store's record follows.
    if (!this.known.has(service)) this.known.set(service, { since: new Date(), lastAt: new Date() });
  }

  /** The gap standing for `service`, as last read (or noted here), else undefined. */
  of(service: ServiceName): LegacyGap | undefined {
    return this.known.get(service);
  }

  /** Stores the services noted since the last flush, then reads every gap back; what fails is kept for the next. */
  async flush(): Promise<void> {
    const noted = [...this.noted];
    this.noted = new Set();
    try {
      if (noted.length)
        await this.pool.query(`INSERT INTO legacy_gaps (service) SELECT unnest($1::text[]) ON CONFLICT (service) DO UPDATE SET last_at = now()`, [noted]);
      await this.read();
    } catch {
      // The store away: the notes wait for the next flush, and what this replica knows stands.
      for (const s of noted) this.noted.add(s);
    }
  }

  /** Reads the gaps every replica recorded. */
  async read(): Promise<ReadonlyMap<ServiceName, LegacyGap>> {
    const { rows } = await this.pool.query<{ service: ServiceName; since: Date; last_at: Date }>('SELECT service, since, last_at FROM legacy_gaps');
    const known = new Map(rows.map((r) => [r.service, { since: r.since, lastAt: r.last_at }]));
    // A note not stored yet stays known.
    for (const s of this.noted) if (!known.has(s)) known.set(s, this.known.get(s) ?? { since: new Date(), lastAt: new Date() });
    this.known = known;
    return known;
  }

  /**
   * Closes `service`'s gap when every write it recorded came before `before` (the start of a repair that copied the
   * orchestrator's keys onto legacy while legacy was written again); true when one was closed.
   */
  async close(service: ServiceName, before: Date): Promise<boolean> {
    const { rowCount } = await this.pool.query('DELETE FROM legacy_gaps WHERE service = $1 AND last_at < $2', [service, before]);
    if (rowCount) this.known.delete(service);
    return (rowCount ?? 0) > 0;
  }
}
