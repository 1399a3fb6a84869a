/**
 * Whether Unleash is answering memshift's fetches, and a fetch asked again after Unleash refused the token: on a 401 or
 * 403 unleash-client stops fetching for good, so a refusal for a while (a token rotated, Unleash Edge not yet able to
 * check it upstream) froze the flags at their last values until a restart, a person's rollback in Unleash unseen.
 */
import { UnleashEvents, type Unleash } from 'unleash-client';
import { childLogger } from '../telemetry/log.js';

const log = childLogger('flags');

const FIRST_ASK_MS = 5_000;
const LAST_ASK_MS = 60_000;
/** unleash-client's words when it stops fetching (its polling fetcher, on 401 and 403). */
const STOPPED = /Stopping refresh of toggles/;

/** How Unleash answers, as a replica sees it. */
export interface UnleashFetching {
  /** When Unleash last answered a fetch (with flags or "unchanged"); undefined until it has. */
  answeredAt: Date | undefined;
  /** Why the last fetch failed, while none has succeeded since. */
  failing: string | undefined;
}

export class UnleashWatch {
  private answered: number | undefined;
  private failing: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private askMs = FIRST_ASK_MS;
  private closed = false;

  constructor(private readonly unleash: Unleash) {
    const answered = () => {
      if (this.failing) log.info('Unleash answers again');
      this.answered = Date.now();
      this.failing = undefined;
      this.askMs = FIRST_ASK_MS;
      clearTimeout(this.timer);
      this.timer = undefined;
    };
    unleash.on(UnleashEvents.Changed, answered);
    unleash.on(UnleashEvents.Unchanged, answered);
    unleash.on(UnleashEvents.Error, (err: Error) => {
      this.failing = err.message;
      if (STOPPED.test(err.message)) this.askLater();
    });
  }

  state(): UnleashFetching {
    return { answeredAt: this.answered === undefined ? undefined : new Date(this.answered), failing: this.failing };
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  /** One fetch after a while, each refusal doubling the wait; an answer has unleash-client poll again on its own. */
  private askLater(): void {
    if (this.closed || this.timer) return;
    log.error({ retryMs: this.askMs }, 'Unleash refused the client token: flags held at their last values, asking again');
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.askMs = Math.min(this.askMs * 2, LAST_ASK_MS);
      void this.repository()?.fetch();
    }, this.askMs).unref();
  }

  /** unleash-client's repository: its fetch() is the one its own poll makes (not in the types). */
  private repository(): { fetch(): Promise<void> } | undefined {
    return (this.unleash as unknown as { repository?: { fetch(): Promise<void> } }).repository;
  }
}
