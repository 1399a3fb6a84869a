/** Guard events: stored in guard_events, listed for /admin/events, and POSTed to webhooks. */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { ServiceName } from '../services/registry.js';
import { inTransaction } from '../store/client.js';
import { repairOf } from '../store/side-gaps.js';
import { childLogger } from '../telemetry/log.js';
import type { WindowFigures } from './window.js';
import { shortFlagName } from '../flags/names.js';
import { digitsApart } from '../util/digits-apart.js';

const log = childLogger('guard');

/** How a person lets a service the guard holds back move on again, in words for a command's or a report's line. */
export const resumeHow = (service: string): string =>
  `\`memshift guard resume ${service}\`, the console's Resume guard, or POST /admin/guard/${service}/resume`;

export type GuardRule = 'mismatchRate' | 'errorRate' | 'addedLatencyMs';

export interface Breach {
  rule: GuardRule;
  value: number;
  threshold: number;
  samples: number;
  minSamples: number;
}

export interface FlagChange {
  flag: string;
  to: 'on' | 'off';
}

/** What happened in Unleash: the flags changed there, or why nothing was. */
export interface UnleashOutcome {
  changed: string[];
  skipped?: string;
  error?: string;
}

export interface GuardEventInput {
  /** A rollback unless it says 'resume': a person's go-ahead after one (its changes and breaches empty). */
  kind?: 'resume';
  /** A resume's newest rollback let go of (an event id): later ones stay in force. */
  resumes?: number;
  /** A resume memshift recorded, not a person: it lets go of a trip whose event landed after the person's resume. */
  covering?: true;
  service: string;
  /** The stage the service was in when the guard acted. */
  stage: string;
  breaches: Breach[];
  figures: WindowFigures;
  flagsChanged: FlagChange[];
  unleash: UnleashOutcome;
  /** The replica whose guard acted (src/guard/fleet.ts): the others follow its rollback. */
  replica?: string;
  /** A trip that left reads where they were because legacy had missed writes since then (ISO time). */
  legacyBehindSince?: string;
  /** Drawn when the guard acted: an event stored again after an attempt given up on is stored once. */
  uid?: string;
  /** When the guard acted (ISO time); default: when stored. */
  at?: string;
}

export interface GuardEvent extends GuardEventInput {
  id: number;
  at: string;
}

/** A trip the store did not take (away): told to the webhooks all the same, stored once it answers. */
export type UnstoredTrip = GuardEventInput & { id: null; at: string };

/** A day's event as the report reads it, its JSON columns unchecked. */
type BetweenRow = Pick<Row, 'at' | 'stage' | 'legacy_behind_since'> & { kind: 'rollback' | 'resume'; breaches: unknown; flags_changed: unknown };

interface Row {
  id: string;
  at: Date;
  service: string;
  stage: string;
  breaches: Breach[];
  window_figures: WindowFigures;
  flags_changed: FlagChange[];
  unleash: UnleashOutcome;
  replica: string | null;
  kind: string;
  resumes: string | null;
  legacy_behind_since: Date | null;
  covering: boolean;
}

const toEvent = (r: Row): GuardEvent => ({
  ...(r.kind === 'resume' ? { kind: 'resume' as const, resumes: Number(r.resumes ?? 0) } : {}),
  ...(r.covering ? { covering: true as const } : {}),
  id: Number(r.id),
  at: r.at.toISOString(),
  service: r.service,
  stage: r.stage,
  breaches: r.breaches,
  figures: r.window_figures,
  flagsChanged: r.flags_changed,
  unleash: r.unleash,
  ...(r.replica ? { replica: r.replica } : {}),
  ...(r.legacy_behind_since ? { legacyBehindSince: r.legacy_behind_since.toISOString() } : {}),
});

/**
 * Why a trip moved no reads (undefined: it rolled them back to legacy). The guard watches from shadow on, so a trip
 * that changes no flag is one at complete, where legacy is written no more, or one with legacy behind (a gap).
 */
export function movedNoReads(e: {
  kind?: string;
  service: string;
  stage: string;
  flagsChanged: readonly unknown[];
  legacyBehindSince?: string;
}): string | undefined {
  if (e.kind === 'resume' || e.flagsChanged.length) return undefined;
  if (e.stage === 'complete') return 'legacy is no longer written at complete, so there is nothing to roll back to';
  const since = e.legacyBehindSince ? ` since ${e.legacyBehindSince}` : '';
  return `legacy has missed writes${since}, so reads were not moved onto it: repair it first (${repairOf(e.service as ServiceName, 'legacy')}, at new-primary)`;
}

export class GuardEvents {
  constructor(private readonly pool: pg.Pool) {}

  async record(e: GuardEventInput, on: Pick<pg.Pool, 'query'> = this.pool): Promise<GuardEvent> {
    const uid = e.uid ?? randomUUID();
    const { rows } = await on.query<Row>(
      `INSERT INTO guard_events (service, stage, breaches, window_figures, flags_changed, unleash, replica, kind, resumes, legacy_behind_since, uid, covering, at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, coalesce($13::timestamptz, now()))
       ON CONFLICT (uid) DO NOTHING RETURNING *`,
      [
        e.service,
        e.stage,
        JSON.stringify(e.breaches),
        JSON.stringify(e.figures),
        JSON.stringify(e.flagsChanged),
        JSON.stringify(e.unleash),
        e.replica ?? null,
        e.kind ?? 'rollback',
        e.resumes ?? null,
        e.legacyBehindSince ?? null,
        uid,
        e.covering ?? false,
        e.at ?? null,
      ],
    );
    // Taken already: an earlier attempt landed after it was given up on.
    const row = rows[0] ?? (await on.query<Row>('SELECT * FROM guard_events WHERE uid = $1', [uid])).rows[0]!;
    return toEvent(row);
  }

  /**
   * Stores a trip, unless another replica stored one of the service after event `seenUpTo` (the last of the fleet's
   * this replica had read) that no resume let go of: both tripped on the same summed window, and the fleet tells it
   * once (one event, one chat line, one trip in the report). Returns the event stored, or the other's with `earlier`.
   */
  async recordTrip(e: GuardEventInput, seenUpTo: number): Promise<{ event: GuardEvent; earlier: boolean }> {
    return inTransaction(this.pool, async (client) => {
      // Trips of replicas racing take their turns here; every other writer of the table waits only for a trip's turn.
      await client.query('LOCK TABLE guard_events IN SHARE ROW EXCLUSIVE MODE');
      const { rows } = await client.query<Row>(
        `SELECT * FROM guard_events g WHERE service = $1 AND kind = 'rollback' AND id > $2 AND replica IS DISTINCT FROM $3
           AND NOT EXISTS (SELECT 1 FROM guard_events r WHERE r.service = g.service AND r.kind = 'resume' AND r.resumes >= g.id)
         ORDER BY id LIMIT 1`,
        [e.service, seenUpTo, e.replica ?? null],
      );
      return rows[0] ? { event: toEvent(rows[0]), earlier: true } : { event: await this.record(e, client), earlier: false };
    });
  }

  /** The newest event's id (0 when there is none): where following the fleet's events starts. */
  async lastId(): Promise<number> {
    const { rows } = await this.pool.query<{ id: string | null }>(`SELECT max(id) AS id FROM guard_events`);
    return Number(rows[0]?.id ?? 0);
  }

  /** Events after `id` recorded by other replicas than `replica`, oldest first. */
  async byOthersAfter(id: number, replica: string): Promise<GuardEvent[]> {
    const { rows } = await this.pool.query<Row>(`SELECT * FROM guard_events WHERE id > $1 AND replica IS DISTINCT FROM $2 ORDER BY id LIMIT 100`, [
      id,
      replica,
    ]);
    return rows.map(toEvent);
  }

  /** Up to event `id`, each service's newest event. */
  async newestUpTo(id: number): Promise<GuardEvent[]> {
    const { rows } = await this.pool.query<Row>(`SELECT DISTINCT ON (service) * FROM guard_events WHERE id <= $1 ORDER BY service, id DESC`, [id]);
    return rows.map(toEvent);
  }

  /**
   * Up to event `id`, per service, the newest rollback no resume let go of, when its flag changes did not all land
   * where the flags come from (no admin token, flags from a file): the flags alone do not show it.
   */
  async inForceUpTo(id: number): Promise<GuardEvent[]> {
    const { rows } = await this.pool.query<Row>(
      `SELECT DISTINCT ON (service) * FROM guard_events g
       WHERE id <= $1 AND kind = 'rollback'
         AND id > (SELECT coalesce(max(resumes), 0) FROM guard_events r WHERE r.service = g.service AND r.kind = 'resume' AND r.id <= $1)
       ORDER BY service, id DESC`,
      [id],
    );
    return rows.map(toEvent).filter((e) => e.flagsChanged.some((c) => !e.unleash.changed.includes(c.flag)));
  }

  /** A service's rollbacks and a person's resumes in [from, to), oldest first (at most 100); covering resumes left out. */
  async between(service: string, from: Date, to: Date): Promise<BetweenRow[]> {
    const { rows } = await this.pool.query<BetweenRow>(
      `SELECT kind, at, stage, breaches, flags_changed, legacy_behind_since FROM guard_events
       WHERE service = $1 AND at >= $2 AND at < $3 AND NOT covering ORDER BY at, id LIMIT 100`,
      [service, from, to],
    );
    return rows;
  }

  async list(opts: { service?: string; limit?: number } = {}): Promise<GuardEvent[]> {
    const { rows } = await this.pool.query<Row>(`SELECT * FROM guard_events WHERE ($1::text IS NULL OR service = $1) ORDER BY id DESC LIMIT $2`, [
      opts.service ?? null,
      Math.min(Math.max(opts.limit ?? 100, 1), 1000),
    ]);
    return rows.map(toEvent);
  }
}

const RULE_WORDS: Record<GuardRule, string> = { mismatchRate: 'mismatch rate', errorRate: 'new-side error rate', addedLatencyMs: 'added p99' };

/** A breach in words: the figure, its threshold and the samples behind it. */
const breachText = (b: Breach): string => {
  const latency = b.rule === 'addedLatencyMs';
  const scale = latency ? 1 : 100;
  const figure = (v: number, digits: number) => `${+(v * scale).toFixed(digits)}${latency ? ' ms' : '%'}`;
  const digits = latency ? 0 : 3;
  return `${RULE_WORDS[b.rule]} ${figure(b.value, digitsApart(b.value * scale, b.threshold * scale, digits))} over ${figure(b.threshold, digits)} (${b.samples} samples)`;
};

/** A trip or a resume in one line for a person: what a chat tool shows of a webhook's payload (its `text`). */
function eventText(e: GuardEvent | UnstoredTrip): string {
  const line = storedText(e);
  return e.id === null ? `${line} Not stored yet: the state store did not answer, so other replicas do not follow it until it does.` : line;
}

function storedText(e: GuardEvent | UnstoredTrip): string {
  if (e.kind === 'resume')
    return `memshift's guard of ${e.service} was resumed by a person at ${e.stage}${e.replica ? ` (replica ${e.replica})` : ''}: the flags decide its reads again, and it watches with an empty window.`;
  const why = e.breaches.length ? e.breaches.map(breachText).join('; ') : 'following another replica';
  const by = e.replica ? ` (replica ${e.replica})` : '';
  const kept = movedNoReads(e);
  return kept
    ? `memshift's guard tripped on ${e.service} at ${e.stage}${by}: ${why}. Nothing was rolled back: ${kept}. ` +
        `It watches ${e.service} again once resumed with ${resumeHow(e.service)}.`
    : `memshift rolled ${e.service} back to legacy reads at ${e.stage}${by}: ${why}. Dual writes kept; ${whereHeld(e)}; resume with ${resumeHow(e.service)}.`;
}

/** Where the rollback's flag changes stand: in Unleash for all to see, or held by memshift alone (and why). */
function whereHeld(e: GuardEventInput): string {
  const flags = e.flagsChanged.map((c) => `${shortFlagName(c.flag)} ${c.to}`).join(', ');
  const missed = e.flagsChanged.some((c) => !e.unleash.changed.includes(c.flag));
  const why = e.unleash.error ? `Unleash failed: ${e.unleash.error}` : (e.unleash.skipped ?? 'Unleash not asked');
  return missed ? `${flags} held by memshift, not in the flags (${why}) until resumed` : `${flags} in Unleash`;
}

/** A webhook as logs and commands name it: its origin only, as the rest of a chat tool's webhook URL is its secret. */
export const webhookOrigin = (url: string): string => `${new URL(url).origin}/…`;

/**
 * POSTs the event to every webhook; a failing one is logged and never blocks the others. The body is
 * `{ type, text, event }` (type `memshift.guard.rollback` or `memshift.guard.resume`): `text` for the chat tools' incoming webhooks (Slack, Mattermost, Teams show it and
 * refuse a payload without one), `event` as /admin/events lists it, for anything else.
 */
export async function notifyWebhooks(urls: readonly string[], event: GuardEvent | UnstoredTrip, timeoutMs = 5000): Promise<void> {
  await Promise.all(
    urls.map(async (url) => {
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ type: `memshift.guard.${event.kind ?? 'rollback'}`, text: eventText(event), event }),
          signal: AbortSignal.timeout(timeoutMs),
        });
        await res.body?.cancel();
        if (!res.ok) log.warn({ webhook: webhookOrigin(url), status: res.status }, 'guard webhook refused the event');
      } catch (err) {
        log.warn({ webhook: webhookOrigin(url), err: (err as Error).message }, 'guard webhook failed');
      }
    }),
  );
}
