/** Sides that missed writes (legacy at complete, the orchestrator under the kill switch or at off again), as the replicas record them in the store. */
import type pg from 'pg';
import type { ServiceName } from '../services/registry.js';
import { coalesced } from '../util/coalesce.js';
import { sideName } from '../util/side-name.js';

/** legacy, or the orchestrator (new): the plan's sides, spelt here as the store stands below the plan. */
type Side = 'legacy' | 'new';

export interface SideGap {
  /** The first write the side did not get. */
  since: Date;
  /** The latest one recorded (each replica's, at its store flush after the write). */
  lastAt: Date;
}

/** What a gap is called, by the side that has it. */
export const GAP_CAUSE: Record<Side, string> = { legacy: 'served at complete', new: 'served to legacy alone: under the kill switch, or at off again' };

/** The command that closes a gap on `side`, run at a stage where that side is written second (WRITTEN_SECOND). */
export const repairOf = (service: ServiceName, side: Side): string =>
  `memshift reconcile --service ${service} --repair --truth ${side === 'legacy' ? 'new' : 'legacy'}`;

/** The stages at which a side is written second, where a run can close its gap. */
export const WRITTEN_SECOND: Record<Side, string> = { legacy: 'new-primary', new: 'dual-write, shadow or cutover' };

/** One sentence on a side's gap and the way to close it (status, report, log). */
export const gapLine = (service: ServiceName, side: Side, since: string): string =>
  `${sideName(side)} has missed writes since ${since} (${GAP_CAUSE[side]}): reads from it are stale, and it ` +
  `is no source of truth, until ${repairOf(service, side)} at ${WRITTEN_SECOND[side]} leaves no difference`;

/** Both sides behind (the kill switch pressed at complete): a repair from either is refused; the person's way out. */
export const bothBehindLine = (service: string): string =>
  'both sides have missed writes (the kill switch pressed at complete): each holds writes the other lacks, and a repair from either is refused; ' +
  `choose the side to keep, then memshift reconcile --service ${service} --repair --give-up-missed FILE at a stage that writes it first ` +
  "(--truth new at new-primary, --truth legacy at dual-write; contextual-memory's legacy service cannot remove what it holds, so there only legacy's can be kept)";

const key = (service: ServiceName, side: Side) => `${service}|${side}`;

/**
 * A write served to one side alone (the orchestrator at complete, legacy under the kill switch or at off again) leaves the other behind until a
 * repair copies the written side's keys onto it: reading the side behind serves stale data, and copying it over the
 * other (a repair with it as the truth, a backfill from legacy) undoes acknowledged writes. Noted per write before it
 * is sent, again once it settled, and when a call that timed out is answered late (a set lookup each, plan/gap-writes.ts),
 * stored at the next flush, so `last_at` is never earlier than the end of a write it covers; read back at each flush, so
 * every replica knows the gaps the others found. A gap this process does not know stored yet is stored before its
 * write is sent (record): a replica killed outright right after it takes no note along.
 */
export class SideGaps {
  private noted = new Map<string, { service: ServiceName; side: Side }>();
  private known = new Map<string, SideGap>();
  /** Gaps known to be in the store (read back, or stored by record). */
  private stored = new Set<string>();
  /** The first store of each gap this process recorded, settled either way. */
  private storing = new Map<string, Promise<void>>();

  constructor(private readonly pool: pg.Pool) {}

  /** A write of `service` is served without `side`: noted by record before it is sent, again once it settled or ended late. */
  note(service: ServiceName, side: Side): void {
    const k = key(service, side);
    this.noted.set(k, { service, side });
    // Known here at once (the guard may act before the next flush); the store's record follows.
    if (!this.known.has(k)) this.known.set(k, { since: new Date(), lastAt: new Date() });
  }

  /**
   * Notes a write served without `side` and, when its gap is not known stored, stores it first: the returned promise
   * settles once stored, or after `boundMs` (a store away: the flushes keep trying, and later writes do not wait).
   */
  record(service: ServiceName, side: Side, boundMs: number): Promise<void> | undefined {
    this.note(service, side);
    const k = key(service, side);
    if (this.stored.has(k)) return undefined;
    let storing = this.storing.get(k);
    if (!storing) {
      storing = this.store([{ service, side }]).then(
        () => void this.stored.add(k),
        () => undefined,
      );
      this.storing.set(k, storing);
    }
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([storing, new Promise<void>((resolve) => (timer = setTimeout(resolve, boundMs)))]).finally(() => clearTimeout(timer));
  }

  /** The gap standing on `side` of `service`, as last read (or noted here), else undefined. */
  of(service: ServiceName, side: Side): SideGap | undefined {
    return this.known.get(key(service, side));
  }

  /**
   * Stores the gaps noted since the last flush, then reads every gap back; what fails is kept for the next. One at a
   * time: a slow store gets no pile of them (the store's timer asks every second).
   */
  readonly flush = coalesced(() => this.write());

  private async write(): Promise<void> {
    const noted = this.noted;
    this.noted = new Map();
    try {
      if (noted.size) await this.store([...noted.values()]);
      await this.read();
    } catch {
      // The store away: the notes wait for the next flush, and what this replica knows stands.
      for (const [k, n] of noted) this.noted.set(k, n);
    }
  }

  /** Stores gaps, each opened now or, standing already, its latest write stamped now. */
  private async store(gaps: { service: ServiceName; side: Side }[]): Promise<void> {
    await this.pool.query(
      `INSERT INTO side_gaps (service, side) SELECT * FROM unnest($1::text[], $2::text[])
       ON CONFLICT (service, side) DO UPDATE SET last_at = now()`,
      [gaps.map((g) => g.service), gaps.map((g) => g.side)],
    );
  }

  /** Reads the gaps every replica recorded. */
  async read(): Promise<void> {
    const { rows } = await this.pool.query<{ service: ServiceName; side: Side; since: Date; last_at: Date }>(
      'SELECT service, side, since, last_at FROM side_gaps',
    );
    const known = new Map(rows.map((r) => [key(r.service, r.side), { since: r.since, lastAt: r.last_at }]));
    // A gap closed since is stored afresh by the next write that misses the side.
    this.stored = new Set(known.keys());
    for (const k of this.storing.keys()) if (!known.has(k)) this.storing.delete(k);
    // A note not stored yet stays known.
    for (const k of this.noted.keys()) if (!known.has(k)) known.set(k, this.known.get(k) ?? { since: new Date(), lastAt: new Date() });
    this.known = known;
  }

  /**
   * Closes the gap on `side` when every write it recorded came before `before` (the start of a run that left the sides
   * alike while `side` was written again); true when one was closed.
   */
  async close(service: ServiceName, side: Side, before: Date): Promise<boolean> {
    const { rowCount } = await this.pool.query('DELETE FROM side_gaps WHERE service = $1 AND side = $2 AND last_at < $3', [service, side, before]);
    if (rowCount) {
      this.known.delete(key(service, side));
      this.stored.delete(key(service, side));
      this.storing.delete(key(service, side));
    }
    return (rowCount ?? 0) > 0;
  }
}
