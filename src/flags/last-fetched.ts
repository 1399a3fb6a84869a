/**
 * Where unleash-client keeps the flags it fetched and looks for them at start (its storage provider): a keeper the
 * replicas share (the state store), so that one started while Unleash is out of reach serves what the fleet last
 * fetched, not the flags file's definitions (all off: a replica back at off while the rest write the orchestrator
 * first would write legacy only).
 */
import type { ClientFeaturesResponse } from 'unleash-client';
import { childLogger } from '../telemetry/log.js';
import { withDeadline } from '../util/deadline.js';

const log = childLogger('flags');

/** A start waits this long for the keeper, then takes the file. */
const READ_MS = 2_000;
const RETRY_MS = 5_000;

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
    try {
      const stored = await withDeadline(reading, READ_MS, () => new Error(`no answer within ${READ_MS} ms`));
      if (usable(stored)) {
        this.held?.seed(stored);
        log.info('flags last fetched from Unleash found in the state store: they answer until Unleash does');
        return stored;
      }
      log.info('no flags fetched from Unleash before: the flags file answers until Unleash does');
    } catch (err) {
      log.warn({ err }, 'the state store did not give the flags last fetched: the flags file answers until Unleash does');
      // A store slow to answer still tells which flags the fleet held (archived in Unleash): held once it does, not
      // taken as off for good (a replica started on a busy store did).
      const held = this.held;
      if (held)
        void reading.then(
          (late) => usable(late) && held.seed(late),
          () => undefined,
        );
    }
    return this.file;
  }

  /** Never waits for the keeper: a fetch must not wait on the state store. */
  set(app: string, response: ClientFeaturesResponse): Promise<void> {
    this.unwritten = { app, response: this.held ? this.held.amend(response) : response, at: new Date() };
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
      for (let next = this.unwritten; next && !this.closed; next = this.unwritten) {
        this.unwritten = undefined;
        try {
          await this.keeper.write(next.app, next.response, next.at);
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
