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

/**
 * A lock's statements on the connection its locks live on (a pool of one), at most one batch at a time: under load
 * many writes' locks cost one round trip rather than one each, and the store one wake-up.
 */
export class LockBatches {
  private tries: Ask[] = [];
  private unlocks: Ask[] = [];
  private running = false;

  constructor(
    private readonly pool: pg.Pool,
    /**
     * How long a statement's answer is waited for, on this process's running time: a process stopped meanwhile (SIGSTOP)
     * reads the answer that came rather than take it for none (dropping the connection let go of its keys, whose work
     * went on, and another replica could write one contextual session's snapshot meanwhile: likely `npm run chaos` seed 128).
     */
    private readonly answerMs = 1_000,
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
   * A batch that failed may still have taken or kept its locks on the server (a timed-out reply): the connection is
   * dropped then, which lets go of every key it held, rather than leave a key held for good.
   */
  private async send(unlocks: Ask[], tries: Ask[]): Promise<void> {
    const all = [...unlocks, ...tries];
    let client: pg.PoolClient;
    try {
      client = await connectClient(this.pool);
    } catch (err) {
      for (const a of all) a.reject(err);
      return;
    }
    const args = (asks: Ask[]) => [asks.map((a) => a.cls), asks.map((a) => a.name)];
    try {
      if (tries.length) {
        const { rows } = await this.answered(
          unlocks.length
            ? client.query<{ ok: boolean }>(UNLOCK_AND_TRY, [...args(unlocks), ...args(tries)])
            : client.query<{ ok: boolean }>(TRY_ALL, args(tries)),
        );
        for (const a of unlocks) a.resolve(true);
        tries.forEach((a, i) => a.resolve(rows[i]?.ok === true));
      } else {
        await this.answered(client.query(UNLOCK_ALL, args(unlocks)));
        for (const a of unlocks) a.resolve(true);
      }
      client.release();
    } catch (err) {
      client.release(true);
      for (const a of all) a.reject(err);
    }
  }

  private answered<T>(query: Promise<T>): Promise<T> {
    return withDeadline(query, this.answerMs, () => new Error(`state store gave no answer to a lock statement within ${this.answerMs} ms`));
  }
}
