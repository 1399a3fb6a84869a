/** The state store's tables, made at start; for `memshift serve`, a server out of reach then is waited for in the background. */
import type pg from 'pg';
import { childLogger } from '../telemetry/log.js';
import { withDeadline } from '../util/deadline.js';
import { MIGRATIONS, migrate, type Migration } from './migrations.js';
import { outOfReach } from './client.js';

const log = childLogger('store');

/** A server that accepts connections and answers nothing would hold an attempt for ever (no statement timeout). */
const ATTEMPT_MS = 5_000;
const RETRY_MS = 2_000;

/**
 * 'fail': the start fails with the first attempt (the CLI's commands, which need the store now).
 * 'wait': only a refusal fails it (a wrong password, no such database); a server out of reach or silent is tried
 * again every 2 s in the background, and the proxy serves its agents meanwhile as it does through a store outage.
 */
export type WhenAway = 'fail' | 'wait';

export class Schema {
  private why: Error | undefined;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;

  /** The latest migration started; while it waits for a table, later attempts wait for it rather than start another. */
  private migrating: Promise<void> | undefined;
  /** That migration found a table another session holds, and tries again (migrate's lock waits). */
  private waitsForTable = false;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly migrations: readonly Migration[],
  ) {}

  static async make(pool: pg.Pool, whenAway: WhenAway, migrations: readonly Migration[] = MIGRATIONS): Promise<Schema> {
    const schema = new Schema(pool, migrations);
    if (whenAway === 'fail') {
      await migrate(pool, migrations);
      return schema;
    }
    try {
      await schema.attempt();
    } catch (err) {
      if (!outOfReach(err)) throw err;
      schema.why = err as Error;
      log.warn({ err }, 'state store not ready at start (err says why): serving without it (secondary writes held in memory), its tables made once it answers');
      schema.retryLater();
    }
    return schema;
  }

  /** Why the store's tables are not known to be there yet (its server out of reach since the start), else undefined. */
  pending(): Error | undefined {
    return this.why;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /**
   * One migration, bounded. One that timed out may still commit later (it clears `why` then); a next one waits for
   * its advisory lock and finds the work done (migrations run in one transaction, each version once). One waiting for a
   * table (the server answering, migrate trying again) is waited for instead: another beside it would only queue.
   */
  private async attempt(): Promise<void> {
    if (!this.migrating || !this.waitsForTable) {
      const migrating: Promise<void> = migrate(this.pool, this.migrations, () => (this.waitsForTable = true))
        .then(() => {
          if (this.why) log.info('state store reached: its tables are made');
          this.why = undefined;
        })
        .finally(() => {
          if (this.migrating !== migrating) return;
          this.migrating = undefined;
          this.waitsForTable = false;
        });
      this.migrating = migrating;
      this.waitsForTable = false;
    }
    await withDeadline(this.migrating, ATTEMPT_MS, () =>
      this.waitsForTable
        ? new Error('a migration of the state store waits for a table another session holds (a long transaction: the log names it)')
        : new Error(`state store gave no answer within ${ATTEMPT_MS} ms (making its tables)`),
    );
  }

  private retryLater(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.attempt().catch((err: unknown) => {
        if (!this.why) return; // a late attempt made them meanwhile
        // Logged when the reason changes, not every 2 s.
        if ((err as Error).message !== this.why.message) log.warn({ err }, 'state store still out of reach: its tables not made yet');
        this.why = err as Error;
        this.retryLater();
      });
    }, RETRY_MS).unref();
  }
}
