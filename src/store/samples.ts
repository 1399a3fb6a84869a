/**
 * Mismatch samples: the newest `capPerRoute` per (service, action). add() only queues (newest kept, same
 * cap); flush() writes out the queue's JSON and inserts it, and prunes older rows, so a burst of mismatches
 * costs one write a tick, and only the samples kept are serialised (and redacted, a keyed hash per value).
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { childLogger } from '../telemetry/log.js';
import { cleanText, isDataError, jsonText } from './sanitize.js';
import { inTransaction } from './client.js';
import { atRestParts, type ValuesAtRest } from './at-rest.js';
import { redactDeep, redactDiff, type Redact } from '../util/redact.js';

const log = childLogger('store.samples');

/** One differing field, as the comparison reports it. */
export interface DiffEntry {
  path: string;
  /** The path in rule form, e.g. context[].content (absent in older samples). */
  field?: string;
  legacy: unknown;
  new: unknown;
}

export interface SampleInput {
  service: string;
  action: string;
  request: unknown;
  legacyReply: unknown;
  newReply: unknown;
  diff: DiffEntry[];
  at?: Date;
}

export interface Sample {
  id: number;
  at: Date;
  service: string;
  action: string;
  request: unknown;
  legacyReply: unknown;
  newReply: unknown;
  diff: DiffEntry[];
}

/** A sample's row, its JSON written; `uid` stores a row sent again (its flush given up on) once. */
interface Row {
  uid: string;
  at: Date;
  service: string;
  action: string;
  request: string;
  legacyReply: string;
  newReply: string;
  diff: string;
}

/**
 * A sample as added, written out only if it is among the newest at the flush: a mismatch storm (a broken
 * orchestrator, every read differing) had each read pay for its sample's JSON and keyed hashes, about 45% of a core
 * at 200 mismatches a second, for samples the cap then dropped. The caller hands over values it no longer changes
 * (the runner's parsed request and replies); one that was stored before and failed to insert is kept as its row.
 */
type Pending = { at: Date; input: SampleInput } | Row;

export class MismatchSamples {
  private pending = new Map<string, Pending[]>();
  private flushing: Promise<void> = Promise.resolve();
  private failing = false;

  /** Undefined when full values are kept. */
  private readonly redact: Redact | undefined;
  private readonly retentionMs: number | undefined;

  constructor(
    private readonly pool: pg.Pool,
    readonly capPerRoute = 50,
    atRest?: ValuesAtRest,
  ) {
    ({ redact: this.redact, retentionMs: this.retentionMs } = atRestParts(atRest));
  }

  add(s: SampleInput): void {
    this.queue([{ at: s.at ?? new Date(), input: s }]);
  }

  /** The sample's row, or undefined (logged) when it cannot be written out. */
  private row(p: Pending): Row | undefined {
    if (!('input' in p)) return p;
    const s = p.input;
    const redact = this.redact;
    // Redacted, the replies keep their shape (side by side still works) and the diff its paths.
    const keep = (v: unknown) => (redact ? redactDeep(v, redact) : v);
    const diff = Array.isArray(s.diff) ? s.diff : [];
    try {
      return {
        uid: randomUUID(),
        at: p.at,
        service: cleanText(s.service),
        action: cleanText(s.action),
        request: jsonText(keep(s.request)),
        legacyReply: jsonText(keep(s.legacyReply)),
        newReply: jsonText(keep(s.newReply)),
        diff: jsonText(redact ? diff.map((d) => redactDiff(d, redact)) : diff),
      };
    } catch (err) {
      log.warn({ err, service: s.service, action: s.action }, 'mismatch sample dropped: not serialisable');
      return undefined;
    }
  }

  /** Writes the queued samples. Never rejects: on failure they stay queued (still capped). */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.write());
    return this.flushing;
  }

  /** Newest first. */
  async list(q: { service?: string; action?: string; limit?: number } = {}): Promise<Sample[]> {
    const { rows } = await this.pool.query(
      `SELECT id, at, service, action, request, legacy_reply, new_reply, diff
       FROM mismatch_samples
       WHERE ($1::text IS NULL OR service = $1) AND ($2::text IS NULL OR action = $2)
       ORDER BY id DESC
       LIMIT $3`,
      [q.service ?? null, q.action ?? null, q.limit ?? this.capPerRoute],
    );
    return rows.map((r) => ({
      id: Number(r.id),
      at: r.at,
      service: r.service,
      action: r.action,
      request: r.request,
      legacyReply: r.legacy_reply,
      newReply: r.new_reply,
      diff: r.diff,
    }));
  }

  /** The newest samples' diffs of a service in [from, to), newest first. */
  async diffsOf(service: string, from: Date, to: Date, limit: number): Promise<{ at: Date; action: string; diff: unknown }[]> {
    const { rows } = await this.pool.query<{ at: Date; action: string; diff: unknown }>(
      `SELECT at, action, diff FROM mismatch_samples WHERE service = $1 AND at >= $2 AND at < $3 ORDER BY id DESC LIMIT $4`,
      [service, from, to, limit],
    );
    return rows;
  }

  /** The field paths that differ most often across the kept samples of a service. */
  async topFields(q: { service: string; since?: Date; until?: Date; limit?: number }): Promise<{ path: string; count: number }[]> {
    const { rows } = await this.pool.query<{ path: string; count: string }>(
      // A diff's `field` is its path in rule form (context[].content): the same field of every element counts once.
      `SELECT coalesce(d.entry ->> 'field', d.entry ->> 'path') AS path, count(DISTINCT s.id) AS count
       FROM mismatch_samples s
       CROSS JOIN LATERAL jsonb_array_elements(
         CASE jsonb_typeof(s.diff) WHEN 'array' THEN s.diff ELSE '[]'::jsonb END) AS d(entry)
       WHERE s.service = $1 AND ($2::timestamptz IS NULL OR s.at >= $2) AND ($4::timestamptz IS NULL OR s.at < $4)
         AND d.entry ->> 'path' IS NOT NULL
       GROUP BY 1
       ORDER BY 2 DESC, 1
       LIMIT $3`,
      [q.service, q.since ?? null, q.limit ?? 20, q.until ?? null],
    );
    return rows.map((r) => ({ path: r.path, count: Number(r.count) }));
  }

  private queue(rows: Pending[]): void {
    for (const row of rows) {
      const { service, action } = 'input' in row ? row.input : row;
      const key = `${service}\u0000${action}`;
      const list = this.pending.get(key) ?? [];
      list.push(row);
      if (list.length > this.capPerRoute) list.splice(0, list.length - this.capPerRoute);
      this.pending.set(key, list);
    }
  }

  private async write(): Promise<void> {
    if (this.pending.size === 0) return;
    const queued = [...this.pending.values()].flat();
    this.pending = new Map();
    const batch: Row[] = [];
    for (const p of queued) {
      const row = this.row(p);
      if (row) batch.push(row);
      // One at a time between the proxy's requests, not a whole flush in one stretch of the event loop.
      if ('input' in p) await new Promise(setImmediate);
    }
    if (!batch.length) return;
    try {
      await inTransaction(this.pool, async (client) => {
        await client.query(
          `INSERT INTO mismatch_samples (at, service, action, request, legacy_reply, new_reply, diff, uid)
           SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::jsonb[], $5::jsonb[], $6::jsonb[], $7::jsonb[], $8::uuid[])
           ON CONFLICT (uid) DO NOTHING`,
          [
            batch.map((r) => r.at),
            batch.map((r) => r.service),
            batch.map((r) => r.action),
            batch.map((r) => r.request),
            batch.map((r) => r.legacyReply),
            batch.map((r) => r.newReply),
            batch.map((r) => r.diff),
            batch.map((r) => r.uid),
          ],
        );
        await client.query(
          `DELETE FROM mismatch_samples m USING (
             SELECT id, row_number() OVER (PARTITION BY service, action ORDER BY id DESC) AS rank
             FROM mismatch_samples
             WHERE (service, action) IN (SELECT * FROM unnest($1::text[], $2::text[]))) old
           WHERE m.id = old.id AND old.rank > $3`,
          [batch.map((r) => r.service), batch.map((r) => r.action), this.capPerRoute],
        );
        // Full values are kept only so long.
        if (this.retentionMs !== undefined)
          await client.query(`DELETE FROM mismatch_samples WHERE at < now() - $1 * interval '1 millisecond'`, [this.retentionMs]);
      });
      if (this.failing) log.info('mismatch samples flushing again');
      this.failing = false;
    } catch (err) {
      this.keep(batch, err);
    }
  }

  private keep(batch: Row[], err: unknown): void {
    if (isDataError(err)) {
      log.error({ err, samples: batch.length }, 'mismatch samples refused by the database; dropped');
      return;
    }
    if (!this.failing) log.warn({ err, samples: batch.length }, 'mismatch samples not flushed; kept for the next flush');
    this.failing = true;
    // Older than anything queued since, so they go first and the cap keeps the newest.
    const since = [...this.pending.values()].flat();
    this.pending = new Map();
    this.queue([...batch, ...since]);
  }
}
