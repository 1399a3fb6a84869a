/**
 * openStore: the state store on a PostgreSQL URL, or on an embedded PostgreSQL when none is given;
 * migrates at start (or once the server answers: whenAway) and flushes buffered counts and samples every second.
 */
import pg from 'pg';
import { childLogger } from '../telemetry/log.js';
import { ComparisonCounts } from './comparisons.js';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from './embedded.js';
import { PgIdMap } from './id-map.js';
import { PgKeyLocks } from './key-locks.js';
import { lossSettings } from './client.js';
import { pgPool } from '../util/pg-url.js';
import { Schema, type WhenAway } from './schema.js';
import { MismatchSamples } from './samples.js';
import type { ValuesAtRest } from './at-rest.js';
import { makeRedactor } from '../util/redact.js';
import { UnknownOutcomes } from './unknowns.js';
import { FetchedFlags } from './fetched-flags.js';
import { Tallies } from './tallies.js';
import { ServedCounts } from './served.js';
import { SideGaps } from './side-gaps.js';
import { StagesReached } from './stages-reached.js';

const log = childLogger('store');

export interface StoreOptions {
  /** postgres:// URL; without it an embedded PostgreSQL is started. */
  url?: string;
  /** Embedded cluster directory (default `./.memshift/pg`). */
  dataDir?: string;
  /** Embedded port; 0 or undefined picks a free one. */
  port?: number;
  /** Mismatch samples kept per (service, action); default 50. */
  sampleCapPerRoute?: number;
  /** How samples keep users' values; default redacted under a key drawn now. */
  valuesAtRest?: ValuesAtRest;
  /** Buffered counts and samples are written this often; default 1000 ms. */
  flushIntervalMs?: number;
  /** How long a key held by another replica is waited for (PgKeyLocks); default 10 s. */
  keyLockWaitMs?: number;
  /** How long keys taken after a lost lock connection wait before their work (PgKeyLocks); default 4 s. */
  keyLockLossGraceMs?: number;
  /** How soon the server closes a connection whose peer went silent, and lets go of its locks (`lossSettings`); default 10 s. */
  connectionLossMs?: number;
  /** A statement unanswered this long gives its connection up (a store lost with its host); default 60 s. */
  statementTimeoutMs?: number;
  /** Pool size; default 10. */
  maxConnections?: number;
  /** A server at `url` out of reach at start: fail the start (default), or serve and make the tables once it answers. */
  whenAway?: WhenAway;
}

export interface Store {
  readonly pool: pg.Pool;
  readonly idMap: PgIdMap;
  /** Per-key locks the replicas share (the contextual snapshot's read-modify-writes). */
  readonly keyLocks: PgKeyLocks;
  readonly comparisons: ComparisonCounts;
  readonly samples: MismatchSamples;
  readonly unknowns: UnknownOutcomes;
  /** The flags last fetched from Unleash, for a start while it is out of reach. */
  readonly fetchedFlags: FetchedFlags;
  readonly tallies: Tallies;
  /** Every request answered, by service, action and outcome (written into the tallies at each flush). */
  readonly served: ServedCounts;
  /** Sides that missed writes (legacy at complete, the orchestrator under the kill switch or at off again), as every replica recorded them. */
  readonly gaps: SideGaps;
  /** The furthest stage each service was served at, by any replica. */
  readonly reached: StagesReached;
  /** Why the store's tables are not known to be there yet (out of reach since the start, whenAway 'wait'), else undefined. */
  pending(): Error | undefined;
  /** Set when this store started its own PostgreSQL. */
  readonly embedded: EmbeddedPostgresHandle | undefined;
  /** Writes buffered counts and samples now; never rejects. */
  flush(): Promise<void>;
  /** Flushes, ends the pool and stops the embedded server if this store started it. Idempotent. */
  close(): Promise<void>;
}

export async function openStore(opts: StoreOptions = {}): Promise<Store> {
  const embedded = opts.url ? undefined : await startEmbeddedPostgres({ dataDir: opts.dataDir, port: opts.port });
  const url = opts.url ?? embedded!.url;
  const lossMs = opts.connectionLossMs ?? 10_000;
  const pool = pgPool(url, 'store', lossSettings(lossMs), {
    max: opts.maxConnections ?? 10,
    connectionTimeoutMillis: 5_000,
    keepAlive: true,
    // A statement unanswered this long gives its connection up: a store lost with its host leaves connections that
    // nothing closes, and the pool would lose them one by one for good. Migrations take what they need (migrate()).
    query_timeout: opts.statementTimeoutMs ?? 60_000,
  });
  // An idle client losing its server emits here; unhandled, it would take the process down.
  pool.on('error', (err) => log.warn({ err }, 'idle database connection lost'));
  let schema: Schema;
  try {
    schema = await Schema.make(pool, opts.whenAway ?? 'fail');
  } catch (err) {
    await pool.end().catch(() => undefined);
    await embedded?.stop();
    throw err;
  }

  const comparisons = new ComparisonCounts(pool);
  const samples = new MismatchSamples(pool, opts.sampleCapPerRoute ?? 50, opts.valuesAtRest ?? { redact: makeRedactor(true) });
  const tallies = new Tallies(pool);
  const served = new ServedCounts();
  const gaps = new SideGaps(pool);
  const reached = new StagesReached(pool);
  const flush = async () => {
    served.drainInto(tallies);
    await Promise.all([comparisons.flush(), samples.flush(), tallies.flush(), gaps.flush(), reached.flush()]);
  };
  const timer = setInterval(() => void flush(), opts.flushIntervalMs ?? 1_000).unref();
  // The gaps and the stages reached are read before the store is handed out, not at the first flush: a replica restarted
  // at off after a later stage records its first writes' gap, and its guard knows legacy's, from the start. A store
  // away (whenAway 'wait') is not waited for: its first flush reads them.
  if (!schema.pending()) await Promise.all([gaps.flush(), reached.flush()]);
  const keyLocks = new PgKeyLocks(url, { waitMs: opts.keyLockWaitMs, lossMs, lossGraceMs: opts.keyLockLossGraceMs });

  const idMap = new PgIdMap(pool, { listenUrl: url });
  let closing: Promise<void> | undefined;
  return {
    pool,
    idMap,
    keyLocks,
    comparisons,
    samples,
    unknowns: new UnknownOutcomes(pool),
    fetchedFlags: new FetchedFlags(pool),
    tallies,
    served,
    gaps,
    reached,
    pending: () => schema.pending(),
    embedded,
    flush,
    close: () =>
      (closing ??= (async () => {
        clearInterval(timer);
        schema.stop();
        await flush();
        await keyLocks.close().catch((err) => log.warn({ err }, 'closing the key locks'));
        await idMap.close();
        await endPool(pool);
        await embedded?.stop();
      })()),
  };
}

/**
 * pool.end() resolves before its connections have closed; stopping the server under them then makes
 * each one fail with "terminating connection". Wait for them (briefly) instead.
 */
async function endPool(pool: pg.Pool): Promise<void> {
  let open = pool.totalCount;
  const closed = new Promise<void>((resolve) => {
    if (open === 0) resolve();
    pool.on('remove', () => --open <= 0 && resolve());
  });
  await pool.end().catch((err) => log.warn({ err }, 'closing the pool'));
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([closed, new Promise((r) => (timer = setTimeout(r, 2_000).unref()))]);
  clearTimeout(timer);
}
