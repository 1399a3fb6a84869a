/** One connection's advisory lock statements in batches: what is asked while a batch is in flight goes in the next. */
import type pg from 'pg';
import { connectClient } from './client.js';
import { withDeadline } from '../util/deadline.js';

const UNLOCK_ALL = 'SELECT count(pg_advisory_unlock(c, hashtext(k))) AS n FROM unnest($1::int4[], $2::text[]) AS t(c, k)';
const TRY_ALL = 'SELECT pg_try_advisory_lock(c, hashtext(k)) AS ok FROM unnest($1::int4[], $2::text[]) WITH ORDINALITY AS t(c, k, i) ORDER BY i';
/**
 * Both in one round trip. Their order does not matter: a connection's advisory locks are counted, so a key it lets go
 * and takes again ends held once either way, and one held elsewhere is refused either way.
 */
const UNLOCK_AND_TRY = `SELECT pg_try_advisory_lock(t.c, hashtext(t.k)) AS ok
  FROM (SELECT count(pg_advisory_unlock(c, hashtext(k))) AS n FROM unnest($1::int4[], $2::text[]) AS u(c, k)) AS u,
       unnest($3::int4[], $4::text[]) WITH ORDINALITY AS t(c, k, i)
  ORDER BY t.i`;

interface Ask {
  cls: number;
  name: string;
  resolve(ok: boolean): void;
  reject(err: unknown): void;
}

/** A batch's asks as the statements' two arrays: classes and names. */
const args = (asks: Ask[]) => [asks.map((a) => a.cls), asks.map((a) => a.name)];

/**
 * A lock's statements on the connection its locks live on (a pool of one), at most one batch at a time: under load
 * many writes' locks cost one round trip rather than one each, and the store one wake-up.
 */
export class LockBatches {
  private tries: Ask[] = [];
  private unlocks: Ask[] = [];
  private running = false;
  /** The connection's last batch is still unanswered: the connection is kept for it (letGoLate). */
  private late = false;
  /** Unlocks asked meanwhile: sent on that connection, where their keys are held, once the answer came. */
  private deferred: Ask[] = [];

  constructor(
    private readonly pool: pg.Pool,
    /**
     * How long a statement's answer is waited for, on this process's running time: a process stopped meanwhile (SIGSTOP)
     * reads the answer that came rather than take it for none (dropping the connection let go of its keys, whose work
     * went on, and another replica could write one contextual session's snapshot meanwhile: likely `npm run chaos` seed 128).
     */
    private readonly answerMs = 1_000,
    /**
     * How long a late answer is still waited for on its connection, which keeps its keys meanwhile, before the
     * connection is dropped: the time in which the server lets go of a silent peer's locks (`lossSettings`).
     */
    private readonly lateMs = 10_000,
  ) {}

  /** Whether the lock was free and is now held on this connection. */
  try(cls: number, name: string): Promise<boolean> {
    return this.ask(this.tries, cls, name);
  }

  unlock(cls: number, name: string): Promise<unknown> {
    return this.ask(this.unlocks, cls, name);
  }

  private ask(list: Ask[], cls: number, name: string): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      list.push({ cls, name, resolve, reject });
      if (!this.running) void this.run();
    });
  }

  private async run(): Promise<void> {
    this.running = true;
    while (this.tries.length || this.unlocks.length) {
      const [unlocks, tries] = [this.unlocks, this.tries];
      this.unlocks = [];
      this.tries = [];
      await this.send(unlocks, tries);
    }
    this.running = false;
  }

  /**
   * A batch the store refused fails, and its connection is dropped. One whose answer is late fails its asks (their
   * keys are held in this process only), but the connection is kept while the answer may still come: it holds other
   * keys whose work goes on (a busy store, a paused one). Meanwhile tries fail at once, and unlocks wait for that
   * connection (elsewhere they would let nothing go, and the key would stay held for good). The late answer's keys are
   * let go; none coming, the connection goes, and with it whatever it held.
   */
  private async send(unlocks: Ask[], tries: Ask[]): Promise<void> {
    if (this.late) {
      this.deferred.push(...unlocks);
      for (const a of tries) a.reject(new AwaitingAnswer());
      return;
    }
    const all = [...unlocks, ...tries];
    let client: pg.PoolClient;
    try {
      client = await connectClient(this.pool);
    } catch (err) {
      for (const a of all) a.reject(err);
      return;
    }
    const query = tries.length
      ? unlocks.length
        ? client.query<{ ok: boolean }>(UNLOCK_AND_TRY, [...args(unlocks), ...args(tries)])
        : client.query<{ ok: boolean }>(TRY_ALL, args(tries))
      : client.query<{ ok: boolean }>(UNLOCK_ALL, args(unlocks));
    try {
      const { rows } = await this.answered(query, this.answerMs);
      for (const a of unlocks) a.resolve(true);
      tries.forEach((a, i) => a.resolve(rows[i]?.ok === true));
      client.release();
    } catch (err) {
      for (const a of all) a.reject(err);
      if (!(err instanceof LateAnswer)) return client.release(true);
      this.late = true;
      void this.letGoLate(client, query, tries);
    }
  }

  /**
   * Lets go of the keys a late answer granted, which no one holds, and of those whose unlocks waited for it, then gives
   * the connection back; or drops it (an unlock of a dropped connection's key is done).
   */
  private async letGoLate(client: pg.PoolClient, query: Promise<pg.QueryResult<{ ok: boolean }>>, tries: Ask[]): Promise<void> {
    let sending: Ask[] = [];
    try {
      const { rows } = await this.answered(query, this.lateMs);
      sending = tries.filter((_, i) => rows[i]?.ok === true);
      while ((sending = [...sending, ...this.deferred.splice(0)]).length) {
        await this.answered(client.query(UNLOCK_ALL, args(sending)), this.lateMs);
        for (const a of sending) a.resolve(true);
        sending = [];
      }
      this.late = false;
      client.release();
    } catch {
      for (const a of [...sending, ...this.deferred.splice(0)]) a.resolve(true);
      this.late = false;
      client.release(true);
    }
  }

  private answered<T>(query: Promise<T>, ms: number): Promise<T> {
    return withDeadline(query, ms, () => new LateAnswer(ms));
  }
}

/** A try asked while its connection waits for a late answer: failed at once, the store itself not found away. */
export class AwaitingAnswer extends Error {
  constructor() {
    super('lock connection waiting for a late answer');
  }
}

class LateAnswer extends Error {
  constructor(ms: number) {
    super(`state store gave no answer to a lock statement within ${ms} ms`);
  }
}
