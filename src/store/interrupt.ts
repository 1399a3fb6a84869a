/** SIGINT / SIGTERM during a one-shot command: its embedded server stopped first, then the exit (130 / 143). */
import { constants } from 'node:os';
import { childLogger } from '../telemetry/log.js';

const log = childLogger('interrupt');

/**
 * Node's default exit on a signal left a one-shot command's embedded PostgreSQL running, orphaned until the next
 * start cleared it. What the command had under way is dropped as by a crash, which its work is made to survive
 * (checkpoints, the outbox); a second signal exits at once.
 */
export class Interrupt {
  private signal: NodeJS.Signals | undefined;
  private cleanup: (() => Promise<unknown>) | undefined;
  private exit: Promise<never> | undefined;
  private readonly onSignal = (signal: NodeJS.Signals) => {
    if (this.signal) process.exit(exitCode(signal));
    this.signal = signal;
    log.warn({ signal }, 'interrupted: stopping what this command started, then exiting');
    if (this.cleanup) void this.exiting();
  };

  constructor() {
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
  }

  /** What a signal stops before the exit from now on; a signal that came already does it now (the exit returned). */
  arm(cleanup: () => Promise<unknown>): Promise<never> | undefined {
    this.cleanup = cleanup;
    return this.exiting();
  }

  /** Once a signal came: the exit under way, which never settles (the work's own failure is its doing); else undefined. */
  exiting(): Promise<never> | undefined {
    const signal = this.signal;
    if (!signal) return undefined;
    return (this.exit ??= (this.cleanup?.() ?? Promise.resolve())
      .catch((err: unknown) => log.warn({ err }, 'stopping after a signal'))
      .then(() => process.exit(exitCode(signal))));
  }

  dispose(): void {
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }
}

const exitCode = (signal: NodeJS.Signals) => 128 + constants.signals[signal];
