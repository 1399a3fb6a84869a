/**
 * Where unleash-client keeps the flags it fetched and looks for them at start (its storage provider): a keeper the
 * replicas share (the state store), so that one started while Unleash is out of reach serves what the fleet last
 * fetched, not the flags file's definitions (all off: a replica back at off while the rest write the orchestrator
 * first would write legacy only).
 */
import type { ClientFeaturesResponse } from 'unleash-client';
import { childLogger } from '../telemetry/log.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { withDeadline } from '../util/deadline.js';

const log = childLogger('flags');

/** A start waits this long for the keeper, then takes the file. */
const READ_MS = 2_000;
const RETRY_MS = 5_000;
/** Writes wait this long at most for the start's read of the store (its answer seeds what they keep). */
const SEEDED_WAIT_MS = 10_000;

/** Reads and writes the last fetched response, keyed by the client's app name. */
export interface FetchedFlagsKeeper {
  read(app: string): Promise<unknown>;
  /** `fetchedAt`: when the replica fetched it; a keeper holding one fetched later keeps that one. */
  write(app: string, response: unknown, fetchedAt: Date): Promise<void>;
}

const usable = (r: unknown): r is ClientFeaturesResponse =>
  typeof r === 'object' && r !== null && Array.isArray((r as { features?: unknown }).features) && (r as { features: unknown[] }).features.length > 0;

/**
 * unleash-client calls `get` once at start, alongside its first fetch (whose answer wins whenever it comes), and `set`
 * after each fetched change; nothing else is ever stored (no bootstrap is given it, which it would store too).
 */
export class LastFetched {
  /** The newest response not yet written; one write at a time, the newest last. */
  private unwritten: { app: string; response: ClientFeaturesResponse; at: Date } | undefined;
  private writing = false;
  /** While the start's read of the store is under way: settles once it has answered and seeded the held flags (or failed). */
  private seeded: Promise<void> | undefined;
  private failing = false;
  private closed = false;

  constructor(
    private readonly keeper: FetchedFlagsKeeper | undefined,
    /** The flags file's definitions, when the keeper has none or does not answer. */
    private readonly file: ClientFeaturesResponse | undefined,
    /** Sees what was kept before and adds to what is kept: memshift's flags Unleash stopped defining (HeldFlags). */
    private readonly held?: { seed(doc: ClientFeaturesResponse): void; amend(doc: ClientFeaturesResponse): ClientFeaturesResponse },
  ) {}

  async get(app: string): Promise<ClientFeaturesResponse | undefined> {
    if (!this.keeper) return this.file;
    const reading = this.keeper.read(app);
    // The held flags kept are seeded whenever the store answers, past the wait too (a store slow to answer would have
    // them taken as off for good), and nothing is written before: a replica whose own first fetch answered first wrote
    // a response without them over the fleet's.
    const held = this.held;
    this.seeded = reading
      .then(
        (stored) => void (usable(stored) && held?.seed(stored)),
        () => undefined,
      )
      .finally(() => (this.seeded = undefined));
    try {
      const stored = await withDeadline(reading, READ_MS, () => new Error(`no answer within ${READ_MS} ms`));
      if (usable(stored)) {
        log.info('flags last fetched from Unleash found in the state store: they answer until Unleash does');
        return stored;
      }
      log.info('no flags fetched from Unleash before: the flags file answers until Unleash does');
    } catch (err) {
      log.warn({ err }, 'the state store did not give the flags last fetched: the flags file answers until Unleash does');
    }
    return this.file;
  }

  /** Never waits for the keeper: a fetch must not wait on the state store. */
  set(app: string, response: ClientFeaturesResponse): Promise<void> {
    this.unwritten = { app, response, at: new Date() };
    void this.write();
    return Promise.resolve();
  }

  /** Stops writing (the keeper's pool is about to end). */
  close(): void {
    this.closed = true;
  }

  private async write(): Promise<void> {
    if (this.writing || this.closed || !this.keeper) return;
    this.writing = true;
    try {
      if (this.seeded) await Promise.race([this.seeded, sleep(SEEDED_WAIT_MS, undefined, { ref: false })]);
      for (let next = this.unwritten; next && !this.closed; next = this.unwritten) {
        this.unwritten = undefined;
        try {
          // With the held definitions as they are when written (seeded from the store meanwhile, perhaps).
          await this.keeper.write(next.app, this.held ? this.held.amend(next.response) : next.response, next.at);
          this.failing = false;
        } catch (err) {
          if (!this.failing) log.warn({ err }, 'flags fetched from Unleash not kept in the state store yet: tried again every 5 s');
          this.failing = true;
          // Unless a newer one came meanwhile, this one is still the one to keep.
          this.unwritten ??= next;
          setTimeout(() => void this.write(), RETRY_MS).unref();
          return;
        }
      }
    } finally {
      this.writing = false;
    }
  }
}
