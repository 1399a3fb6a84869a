/**
 * Holding one key's secondary writes while a repair or the backfill rewrites the key on a side: a row of its own in
 * the key's outbox order, claimed by the holder. Later writes of the key wait behind it (only a key's head is sent,
 * on every replica); earlier ones are waited for. So no live write lands while the key is cleared and written again,
 * and what the side holds, read under the hold, stays as read until the work is done. A holder that stalls past its
 * lease (paused, its store away) loses the key to the outbox; its work stops at its next write, and fails (HoldLost)
 * when the key was lost while it ran, for the caller to do the key again under a new hold.
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

/** The hold ran out while its work ran (its holder stalled past the lease): later writes of the key may have landed meanwhile. */
export class HoldLost extends Error {
  constructor(service: ServiceName, key: string) {
    super(`${service} key ${JSON.stringify(key)}: its hold ran out while it was rewritten (the holder stalled past its lease)`);
    this.name = 'HoldLost';
  }
}

/**
 * The work failed after sending a write whose outcome is unknown (its side hangs): it may still land, after any write
 * sent later. Its hold is not ended but left to run out, for the proxy's outbox to end once the side has answered a
 * barrier (OutboxRunner); a later hold of the key (waitForTurn) ends it only past its lease.
 */
export class MayStillLand extends Error {}

/** Given to a hold's work: `check()` before each write, which throws HoldLost once the hold is no longer this holder's. */
export interface HoldFence {
  check(): Promise<void>;
}

export interface KeyHoldOptions {
  /** A hold not kept alive this long (its holder died) is finished by whichever worker claims it. */
  leaseMs?: number;
  /** How long earlier writes of the key are waited for. */
  waitMs?: number;
}

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

  /**
   * Runs `work` while no write of the key is under way towards any side and none starts; rejects with KeyStillWritten,
   * or HoldLost when the hold ran out and was taken over before the work ended (some of its writes may have landed
   * after later writes of the key).
   */
  async hold<T>(service: ServiceName, key: string, side: Side, work: (fence: HoldFence) => Promise<T>): Promise<T> {
    const id = randomUUID();
    const intent = { id, service, key, action: HOLD_ACTION, side, raw: Buffer.alloc(0), effect: 'neutral', createdAt: new Date() };
    const begun = Date.now();
    await this.table.insert(intent, this.leaseMs, true, this.owner);
    // When the lease runs out at the latest, by this process's clock: each renewal counts from before it was sent.
    let until = begun + this.leaseMs;
    let lost = false;
    // Set once the work ended: a renewal racing the hold's end finds it finished, which is no loss.
    let ending = false;
    const renew = async () => {
      const at = Date.now();
      if (await this.table.extend(id, this.owner, this.leaseMs)) until = Math.max(until, at + this.leaseMs);
      else if (!ending) {
        if (!lost) log.error({ service, key }, 'a key hold ran out and was taken over (its holder stalled): the rewrite stops and the key is done again');
        lost = true;
      }
    };
    const keep = setInterval(() => renew().catch((err: unknown) => log.warn({ err, service, key }, 'a key hold could not be kept alive')), this.leaseMs / 3);
    keep.unref();
    const fence: HoldFence = {
      // Renewed first when half the lease is gone (the keep-alive fell behind: a pause, a slow store).
      check: async () => {
        if (!lost && Date.now() > until - this.leaseMs / 2) await renew();
        if (lost) throw new HoldLost(service, key);
      },
    };
    let kept = false;
    try {
      await this.waitForTurn(service, key, id);
      const result = await work(fence).catch((err: unknown) => {
        if (err instanceof MayStillLand) {
          kept = true;
          log.warn({ service, key }, 'a write of a key rewrite may still land: its hold is left to run out, to be ended once the side answers');
        }
        throw err;
      });
      ending = true;
      // Still this holder's at the end: nobody took the key over, so no later write of it was sent meanwhile.
      kept = await this.finish(id, this.owner);
      if (!kept) throw new HoldLost(service, key);
      return result;
    } finally {
      clearInterval(keep);
      if (!kept) await this.finish(id);
    }
  }

  /** Ends a hold (only while `owner` holds it, when given); true when it was open. */
  private async finish(id: string, owner?: string): Promise<boolean> {
    const r = await this.pool.query(
      `UPDATE outbox SET status = 'done', primary_ok = true, updated_at = now()
        WHERE id = $1 AND open AND ($2::text IS NULL OR (owner = $2 AND status = 'inflight'))`,
      [id, owner ?? null],
    );
    return r.rowCount === 1;
  }

  /** The ids of the key's writes that added an element on `side` lately (OutboxTable.recentAdds). */
  landedLately(service: ServiceName, key: string, side: Side): Promise<string[]> {
    return this.table.recentAdds(service, key, side);
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
