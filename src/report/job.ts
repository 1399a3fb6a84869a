/**
 * The running proxy's reporter: when a UTC day ends it writes that day's report (to the store, and to
 * report.dir when set), and it writes any day on demand (/admin/reports). At start it catches up
 * yesterday's report if it had traffic and no replica wrote it (the proxy was down at midnight). At start and as each
 * day ends it deletes the figures older than store.retainDays (src/store/retention.ts), the day's report written first.
 */
import type { Config } from '../config.js';
import type { Flags } from '../flags/source.js';
import type { ServiceName } from '../services/registry.js';
import type { Store } from '../store/index.js';
import { childLogger } from '../telemetry/log.js';
import { makeReport, writeReportFiles, type Report } from './index.js';
import { dayWindow, utcDate } from './data.js';
import { ReportStore } from './store.js';
import { keptFrom, purgeBefore } from '../store/retention.js';

const log = childLogger('report');
const DAY_MS = 24 * 3_600_000;

export interface ReporterOptions {
  config: Config;
  store: Store;
  flags: Flags;
  services: readonly ServiceName[];
  now?: () => Date;
  /** How often the day is checked for a roll-over. */
  checkEveryMs?: number;
}

export class DailyReporter {
  readonly reports: ReportStore;
  /** The reporter's clock, which decides what "today" is (tests and the demo move it). */
  readonly now: () => Date;
  private timer: NodeJS.Timeout | undefined;
  private day: string;
  private chain: Promise<unknown> = Promise.resolve();
  private purging: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly opts: ReporterOptions) {
    this.reports = new ReportStore(opts.store.pool);
    this.now = opts.now ?? (() => new Date());
    this.day = utcDate(this.now());
  }

  /** Starts watching for the day to end; a write that fails is logged, and the proxy carries on. */
  start(): this {
    void this.catchUp()
      .catch((err: Error) => log.warn({ err }, 'catching up the daily report failed'))
      .then(() => this.purge());
    this.timer = setInterval(() => this.tick(), this.opts.checkEveryMs ?? 60_000).unref();
    return this;
  }

  /**
   * Makes the report of `date` (default: today so far), stores it and writes its files. The stored report is the
   * one served (GET /admin/reports): files that cannot be written (a directory the process may not create) are
   * logged, not a failure of the report.
   */
  write(date: string = utcDate(this.now())): Promise<Report> {
    const next = this.chain.then(async () => {
      await this.opts.store.flush();
      const report = await makeReport({
        date,
        config: this.opts.config,
        store: this.opts.store,
        flags: this.opts.flags,
        services: this.opts.services,
        now: this.now(),
      });
      await this.reports.save(report);
      const dir = this.opts.config.report.dir;
      if (dir)
        await writeReportFiles(report, dir).catch((err: Error) =>
          log.warn({ err, date, dir }, 'report stored, its files not written: report.dir must be writable'),
        );
      log.info({ date, dir: dir || null }, 'daily report written');
      return report;
    });
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Waits for a write in progress, and for a purge to end its statement. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.closed = true;
    await Promise.all([this.chain, this.purging]);
  }

  /** Writes yesterday's report if it had traffic and no replica wrote it. */
  private async catchUp(): Promise<void> {
    const yesterday = utcDate(new Date(this.now().getTime() - DAY_MS));
    const day = dayWindow(yesterday)!;
    const { rows } = await this.opts.store.pool.query('SELECT 1 FROM comparison_counts WHERE minute >= $1 AND minute < $2 LIMIT 1', [day.from, day.to]);
    if (rows.length && !(await this.reports.get(yesterday))) await this.write(yesterday);
  }

  private tick(): void {
    const today = utcDate(this.now());
    if (today === this.day) return;
    const ended = this.day;
    this.day = today;
    this.write(ended)
      .catch((err: Error) => log.warn({ err, date: ended }, 'daily report failed'))
      .then(() => this.purge());
  }

  /**
   * Deletes the figures from before the days kept, beside report writes rather than before them (a first purge of months
   * takes a while); one at a time, stopped between statements by close(). A failure is logged: the next day's end tries again.
   */
  private purge(): Promise<void> {
    const days = this.opts.config.store.retainDays;
    this.purging ??= (async () => {
      const before = keptFrom(this.now(), days);
      const deleted = await purgeBefore(this.opts.store.pool, before, () => this.closed);
      if (Object.values(deleted).some((n) => n > 0)) log.info({ before, deleted }, `figures older than store.retainDays (${days}) deleted`);
    })()
      .catch((err: Error) => log.warn({ err }, 'deleting the figures past store.retainDays failed'))
      .finally(() => (this.purging = undefined));
    return this.purging;
  }
}
