/** Circuit breaker: consecutive timeouts/unavailable open it; after openMs one trial call decides. */
import type { BreakerState, LegFailure } from './types.js';

/** Whether an admitted call is the half-open trial (only the trial's result may close or re-open). */
export type Permit = 'normal' | 'trial';

/** Only failures that say "the backend is not there" trip the breaker; a reply of any kind proves it is. */
const TRIPPING: ReadonlySet<LegFailure> = new Set<LegFailure>(['timeout', 'unavailable', 'disconnected']);

export class Breaker {
  private failures = 0;
  private openUntil: number | null = null;
  private trialInFlight = false;
  private readonly threshold: number;
  private readonly openMs: number;

  constructor(
    opts: { failureThreshold: number; openMs: number },
    private readonly now: () => number = Date.now,
  ) {
    this.threshold = Math.max(1, opts.failureThreshold);
    this.openMs = Math.max(0, opts.openMs);
  }

  get state(): BreakerState {
    if (this.openUntil === null) return 'closed';
    return this.now() >= this.openUntil ? 'half_open' : 'open';
  }

  /** Returns null when the call must not be attempted. */
  admit(): Permit | null {
    switch (this.state) {
      case 'closed':
        return 'normal';
      case 'open':
        return null;
      case 'half_open':
        if (this.trialInFlight) return null;
        this.trialInFlight = true;
        return 'trial';
    }
  }

  /** Records an admitted call's result; `failure` undefined means success. */
  record(permit: Permit, failure?: LegFailure): void {
    const tripped = failure !== undefined && TRIPPING.has(failure);
    if (permit === 'trial') {
      this.trialInFlight = false;
      if (tripped) this.open();
      else this.reset();
      return;
    }
    // Stragglers admitted before the breaker opened must not decide for the trial.
    if (this.openUntil !== null) return;
    if (!tripped) {
      this.failures = 0;
      return;
    }
    if (++this.failures >= this.threshold) this.open();
  }

  private open(): void {
    this.openUntil = this.now() + this.openMs;
    this.failures = 0;
  }

  /** Closes it: a new connection to the backend proves it is there again. */
  reset(): void {
    this.openUntil = null;
    this.failures = 0;
  }
}
