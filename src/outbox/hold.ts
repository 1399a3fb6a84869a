/**
 * Holding one key's secondary writes while a repair or the backfill rewrites the key on a side: a row of its own in
 * the key's outbox order, claimed by the holder. Later writes of the key wait behind it (only a key's head is sent,
 * on every replica); earlier ones are waited for. So no live write lands while the key is cleared and written again,
 * and what the side holds, read under the hold, stays as read until the work is done.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { Side } from '../plan/plan.js';
import type { ServiceName } from '../services/registry.js';
import { childLogger } from '../telemetry/log.js';
import { HOLD_ACTION, OutboxTable } from './table.js';

const log = childLogger('outbox.hold');

/** Earlier writes of the key did not land within the wait: the key was not touched. */
export class KeyStillWritten extends Error {
  constructor(service: ServiceName, key: string, waitMs: number) {
    super(`${service} key ${JSON.stringify(key)}: earlier writes of it were still on their way after ${waitMs} ms; left as it is`);
    this.name = 'KeyStillWritten';
  }
}

export interface KeyHoldOptions {
  /** A hold not kept alive this long (its holder died) is finished by whichever worker claims it. */
  leaseMs?: number;
  /** How long earlier writes of the key are waited for. */
  waitMs?: number;
}

/** Landed writes looked at by `landedLately`: a store behind its replies by more than this is not waited for. */
const RECENT_MS = 10_000;

const POLL_MS = 50;

export class KeyHolds {
  private readonly table: OutboxTable;
  private readonly owner = `hold:${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private readonly leaseMs: number;
  private readonly waitMs: number;

  constructor(
    private readonly pool: pg.Pool,
    opts: KeyHoldOptions = {},
  ) {
    this.table = new OutboxTable(pool);
    this.leaseMs = opts.leaseMs ?? 10_000;
    this.waitMs = opts.waitMs ?? 30_000;
  }

  /** Runs `work` while no write of the key is under way towards any side and none starts; rejects with KeyStillWritten. */
  async hold<T>(service: ServiceName, key: string, side: Side, work: () => Promise<T>): Promise<T> {
    const id = randomUUID();
    const intent = { id, service, key, action: HOLD_ACTION, side, raw: Buffer.alloc(0), effect: 'neutral', createdAt: new Date() };
    await this.table.insert(intent, this.leaseMs, true, this.owner);
    let lost = false;
    const keep = setInterval(() => {
      this.table.extend(id, this.owner, this.leaseMs).then(
        (kept) => {
          if (!kept && !lost) log.error({ service, key }, 'a key hold was taken over (its lease ran out): later writes of the key may land during the rewrite');
          lost ||= !kept;
        },
        (err: unknown) => log.warn({ err, service, key }, 'a key hold could not be kept alive'),
      );
    }, this.leaseMs / 3);
    keep.unref();
    try {
      await this.waitForTurn(service, key, id);
      return await work();
    } finally {
      clearInterval(keep);
      await this.pool.query(`UPDATE outbox SET status = 'done', primary_ok = true, updated_at = now() WHERE id = $1 AND open`, [id]);
    }
  }

  /** The ids of the key's writes that added a record on `side` lately (OutboxTable.recentAdds). */
  landedLately(service: ServiceName, key: string, side: Side): Promise<string[]> {
    return this.table.recentAdds(service, key, side, RECENT_MS);
  }

  /**
   * Finishes the key's holds whose holder died (their lease ran out): with no proxy running (a backfill resumed on its
   * own), no outbox worker would. True when there was one.
   */
  private async finishAbandoned(service: ServiceName, key: string): Promise<boolean> {
    const r = await this.pool.query(
      `UPDATE outbox SET status = 'done', primary_ok = true, updated_at = now()
        WHERE open AND service = $1 AND key = $2 AND action = $3 AND next_attempt_at < now()`,
      [service, key, HOLD_ACTION],
    );
    return (r.rowCount ?? 0) > 0;
  }

  /** Until the hold heads its key. */
  private async waitForTurn(service: ServiceName, key: string, id: string): Promise<void> {
    const deadline = Date.now() + this.waitMs;
    for (;;) {
      const { rows } = await this.pool.query<{ earlier: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM outbox o WHERE o.open AND o.service = $1 AND o.key = $2 AND o.seq < h.seq) AS earlier
           FROM outbox h WHERE h.id = $3`,
        [service, key, id],
      );
      if (!rows[0]!.earlier) return;
      if (await this.finishAbandoned(service, key)) continue;
      if (Date.now() > deadline) throw new KeyStillWritten(service, key, this.waitMs);
      await sleep(POLL_MS);
    }
  }
}
