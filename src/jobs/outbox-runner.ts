/**
 * Applies outbox rows: one pump per key works through that key's writes in seq order (claiming each head,
 * applying it, recording the outcome), and a poll claims due heads left by retries, other replicas or
 * crashed owners and hands them to the pumps.
 */
import type { ExecutionObserver } from '../core/observer.js';
import type { Side } from '../core/plan.js';
import { routeRequest, type Route } from '../core/route.js';
import { keyOf, type ApplySecondary } from '../core/secondary.js';
import type { ServiceName } from '../services/catalog.js';
import { childLogger } from '../telemetry/log.js';
import type { OutboxRow, OutboxTable } from './outbox-table.js';
import { backoffMs, decide, UnreplayableWrite, type RetryPolicy } from './outbox-retry.js';

const log = childLogger('outbox');
const RETENTION_EVERY_MS = 60_000;
const RECLAIM_AFTER_MS = 1_000;
const PROBE_EVERY_MS = 1_000;
const LOST_CLAIM = 'outbox claim lost before its outcome was recorded (lease ran out): the write may be applied twice';

export interface RunnerOptions {
  table: OutboxTable;
  apply: ApplySecondary;
  observer: ExecutionObserver;
  /** This process's claim name; a restart is a new owner. */
  owner: string;
  /** Only rows of services this process can write are claimed. */
  services: readonly ServiceName[];
  policy: RetryPolicy;
  leaseMs: number;
  pollMs: number;
  batch: number;
  retainDoneMs: number;
  /** A store call failed for want of the store. */
  onStoreError(err: unknown): void;
  /** Whether a side answers (a health check); while one is failing it is asked every second, so its return is seen at once. */
  probe?(side: Side): Promise<boolean>;
}

interface Pump {
  service: ServiceName;
  key: string;
  /** Rows the poll claimed for this key (at most its head). */
  rows: OutboxRow[];
  /** Look for the key's next head again. */
  again: boolean;
  running?: Promise<void>;
}

export class OutboxRunner {
  private readonly pumps = new Map<string, Pump>();
  /** Per key, the `done` of writes this process took, by row id. */
  private readonly waiting = new Map<string, Map<string, () => void>>();
  private timer: NodeJS.Timeout | undefined;
  /** The poll under way, which stop() waits for: it may still be using the store. */
  private polling: Promise<void> | undefined;
  private stopped = false;
  private lastRetention = 0;
  private lastProbe = 0;
  /** Sides whose last attempt here failed: their first success wakes the writes waiting in backoff. */
  private readonly failing = new Set<Side>();
  /** Failed attempts rescheduled by this process. */
  retries = 0;

  constructor(private readonly o: RunnerOptions) {}

  start(): void {
    const tick = async () => {
      await (this.polling = this.poll());
      if (!this.stopped) this.timer = setTimeout(() => void tick(), this.o.pollMs).unref();
    };
    this.timer = setTimeout(() => void tick(), 0).unref();
  }

  /** Calls `done` once this process has attempted row `id`, or stopped looking at its key. */
  track(service: ServiceName, key: string, id: string, done: () => void): void {
    const k = keyOf(service, key);
    let m = this.waiting.get(k);
    if (!m) this.waiting.set(k, (m = new Map()));
    m.set(id, done);
  }

  /** Works through the key's due writes now (its head, then the next, ...); `row` is one already claimed. */
  kick(service: ServiceName, key: string, row?: OutboxRow): void {
    const k = keyOf(service, key);
    if (this.stopped) {
      this.settleKey(k);
      return;
    }
    let p = this.pumps.get(k);
    if (!p) this.pumps.set(k, (p = { service, key, rows: [], again: false }));
    if (row) p.rows.push(row);
    p.again = true;
    p.running ??= this.run(k, p);
  }

  get busy(): boolean {
    return this.pumps.size > 0;
  }

  async idle(): Promise<void> {
    while (this.pumps.size) await Promise.all([...this.pumps.values()].map((p) => p.running));
  }

  /** Stops polling; each pump finishes its current attempt, and what it had not started stays for later. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.polling;
    await this.idle();
  }

  private async run(k: string, p: Pump): Promise<void> {
    try {
      while (!this.stopped && (p.again || p.rows.length)) {
        p.again = false;
        // Each applied write hands over the key's next one, claimed in the same round trip.
        let row = p.rows.shift() ?? (await this.claimHead(p));
        while (row && !this.stopped) row = await this.attempt(row);
        if (row) p.rows.push(row);
      }
      // Claimed but not begun (shutdown): due again at once, for this process's successor or another replica.
      for (const row of p.rows) await this.persist(() => this.o.table.unclaim(row.id, this.o.owner));
    } finally {
      this.pumps.delete(k);
      // Whatever is left for this key waits in the outbox; it no longer keeps the key busy here.
      this.settleKey(k);
    }
  }

  private async claimHead(p: Pump): Promise<OutboxRow | undefined> {
    try {
      const [row] = await this.o.table.claim({
        owner: this.o.owner,
        leaseMs: this.o.leaseMs,
        limit: 1,
        services: this.o.services,
        key: { service: p.service, key: p.key },
      });
      return row;
    } catch (err) {
      this.o.onStoreError(err);
      // Its fresh writes are due to the poll only after a lease: look again soon instead.
      setTimeout(() => this.kick(p.service, p.key), RECLAIM_AFTER_MS).unref();
      return undefined;
    }
  }

  /** Applies one claimed write and records the outcome; resolves with the key's next write when it could be claimed. */
  private async attempt(row: OutboxRow): Promise<OutboxRow | undefined> {
    const t0 = performance.now();
    let route: Route | undefined;
    try {
      route = routeOf(row);
      const reply = await this.o.apply(route, row.side);
      this.o.observer.secondaryWritten({ route, side: row.side, ok: true, latencyMs: reply.latencyMs });
      if (this.failing.has(row.side)) void this.recovered(row.side).catch((err: unknown) => this.o.onStoreError(err));
      const r = await this.persist(() => this.o.table.completeAndNext(row.id, this.o.owner, this.o.leaseMs));
      if (r && !r.completed) log.warn({ id: row.id }, LOST_CLAIM);
      return r?.next;
    } catch (error) {
      if (route) this.o.observer.secondaryWritten({ route, side: row.side, ok: false, latencyMs: performance.now() - t0, error });
      const d = decide(row, error, this.o.policy);
      if (d.park) log.warn({ id: row.id, service: row.service, key: row.key, action: row.action, attempts: row.attempts, error: d.error }, 'secondary write parked as dead');
      else {
        this.retries++;
        this.failing.add(row.side);
      }
      if ((await this.persist(() => this.o.table.release(row.id, this.o.owner, d))) === false) log.warn({ id: row.id }, LOST_CLAIM);
      return undefined;
    } finally {
      const k = keyOf(row.service, row.key);
      const done = this.waiting.get(k)?.get(row.id);
      this.waiting.get(k)?.delete(row.id);
      done?.();
    }
  }

  /**
   * Records an attempt's outcome, retrying while the store is down: the write has happened (or failed),
   * and leaving the row inflight would have it replayed once its lease ran out.
   */
  private async persist<T>(op: () => Promise<T>): Promise<T | undefined> {
    for (let n = 1; ; n++) {
      try {
        return await op();
      } catch (err) {
        this.o.onStoreError(err);
        if (this.stopped) return undefined;
        await sleep(backoffMs(n, { baseBackoffMs: 100, maxBackoffMs: 2_000 }));
      }
    }
  }

  private async poll(): Promise<void> {
    const room = this.o.batch - this.pumps.size;
    try {
      if (room > 0) {
        const rows = await this.o.table.claim({ owner: this.o.owner, leaseMs: this.o.leaseMs, limit: room, services: this.o.services });
        for (const row of rows) this.kick(row.service, row.key, row);
      }
      if (this.failing.size && this.o.probe && Date.now() - this.lastProbe > PROBE_EVERY_MS) {
        this.lastProbe = Date.now();
        for (const side of [...this.failing]) if (await this.o.probe(side)) await this.recovered(side);
      }
      if (Date.now() - this.lastRetention > RETENTION_EVERY_MS) {
        this.lastRetention = Date.now();
        await this.o.table.purge({ statuses: ['done'], olderThanMs: this.o.retainDoneMs });
      }
    } catch (err) {
      this.o.onStoreError(err);
    }
  }

  /** The side answers again: what waits in backoff for it is due now rather than at the end of its backoff. */
  private async recovered(side: Side): Promise<void> {
    this.failing.delete(side);
    await this.o.table.wake(side);
  }

  private settleKey(k: string): void {
    const m = this.waiting.get(k);
    this.waiting.delete(k);
    for (const done of m?.values() ?? []) done();
  }
}

function routeOf(row: OutboxRow): Route {
  const routed = routeRequest(row.service, row.raw, Number.MAX_SAFE_INTEGER);
  if (!routed.ok) throw new UnreplayableWrite(`stored request cannot be replayed: ${routed.reason}`);
  return routed.route;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
