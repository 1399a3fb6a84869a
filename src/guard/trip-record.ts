/**
 * A trip's event stored and told: once for the fleet (another replica's trip on the same window stands for it), to
 * the webhooks within seconds whatever the store does, and stored again while the trip holds if the store was away.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { childLogger } from '../telemetry/log.js';
import { withDeadline } from '../util/deadline.js';
import { notifyWebhooks, type GuardEvent, type GuardEventInput, type GuardEvents } from './events.js';

const log = childLogger('guard');

/** A trip the store did not take is stored again after this, doubling up to the max (the store away for long). */
const STORE_RETRY_MS = 1_000;
const STORE_RETRY_MAX_MS = 30_000;
/** The webhooks hear of a trip the store has not taken within this, without waiting for it. */
const TELL_WITHIN_MS = 2_000;

export interface TripToRecord {
  input: GuardEventInput;
  /** The last fleet event the replica had read when it tripped (undefined: none read yet, or no fleet). */
  seenUpTo: number | undefined;
  /** Whether the trip still holds (not resumed, not tripped again): tries to store it stop once it does not. */
  holds(): boolean;
  /** The event standing for the trip once stored: its own, or another replica's. */
  stored(e: GuardEvent): void;
  /**
   * Its own event stored after the trip stopped holding (a person resumed it while the store was away or slow): the
   * person's resume, recorded before it, does not cover it, so another must, or the fleet would follow the trip.
   */
  letGo(e: GuardEvent): void;
}

export class TripRecorder {
  /** Called with each trip's own event once stored. */
  readonly listeners = new Set<(e: GuardEvent) => void>();
  /** Ends the waits between tries. */
  private readonly closing = new AbortController();

  constructor(
    private readonly events: GuardEvents,
    private readonly webhooks: readonly string[],
    /** Replicas share the store: a race with another replica's trip is looked for. */
    private readonly fleet: boolean,
  ) {}

  async record(t: TripToRecord): Promise<void> {
    const holds = () => !this.closing.signal.aborted && t.holds();
    const first = this.store(t);
    let stored = await withDeadline(first, TELL_WITHIN_MS, () => new Error('store slow')).catch(() => 'slow' as const);
    if (stored === 'earlier') return;
    // The store away or slow (a frozen one answers nothing for as long as the statement bound): the channel hears of
    // the trip now, the fleet and the report once the store takes it.
    const told = stored === 'slow' || stored === undefined;
    if (told) await notifyWebhooks(this.webhooks, { ...t.input, id: null, at: t.input.at! });
    if (stored === 'slow') stored = await first;
    for (let waitMs = STORE_RETRY_MS; !stored && holds(); waitMs = Math.min(waitMs * 2, STORE_RETRY_MAX_MS)) {
      await sleep(waitMs, undefined, { signal: this.closing.signal }).catch(() => undefined);
      if (holds()) stored = await this.store(t);
    }
    if (!stored || stored === 'earlier') return;
    for (const cb of this.listeners) cb(stored);
    if (!told) await notifyWebhooks(this.webhooks, stored);
  }

  close(): void {
    this.closing.abort();
  }

  /** The trip's event as stored; 'earlier' when another replica's stands for it; undefined when the store did not take it. */
  private async store(t: TripToRecord): Promise<GuardEvent | 'earlier' | undefined> {
    const { input, seenUpTo } = t;
    try {
      // Before its first exchange with the fleet a replica knows of no event, so any would count as a race.
      const { event, earlier } =
        this.fleet && seenUpTo !== undefined ? await this.events.recordTrip(input, seenUpTo) : { event: await this.events.record(input), earlier: false };
      t.stored(event);
      if (earlier) {
        log.warn(
          { service: input.service, eventId: event.id, replica: event.replica },
          'guard: another replica tripped on the same window first; its event stands for both',
        );
        return 'earlier';
      }
      log.warn({ service: input.service, eventId: event.id }, 'guard event stored');
      if (!t.holds()) t.letGo(event);
      return event;
    } catch (err) {
      log.error({ err, service: input.service }, 'guard event could not be stored; tried again until the store takes it');
      return undefined;
    }
  }
}
