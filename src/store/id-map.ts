/**
 * The id map in PostgreSQL (legacy key -> orchestrator session id, per service), with a small
 * in-process cache. The first mapping written for a key wins, on every replica. A delete is announced
 * (NOTIFY) to every process sharing the store, whose caches drop the key at once.
 */
import pg from 'pg';
import { childLogger } from '../telemetry/log.js';
import type { ServiceName } from '../services/registry.js';
import type { IdMap } from '../services/types.js';
import { storableKey } from '../util/storable-key.js';
import { endClient } from './client.js';
import { withDeadline } from '../util/deadline.js';
import { pgClient } from '../util/pg-url.js';

const log = childLogger('id-map');

/** The channel deletes are announced on, with the key's cacheKey; an empty payload (a key too long for one) clears all. */
const CHANNEL = 'memshift_id_map';
/** PostgreSQL takes payloads under 8,000 bytes. */
const MAX_PAYLOAD = 4_000;
const RELISTEN_MS = 1_000;
/**
 * A listening connection is asked to answer this often, within PROBE_ANSWER_MS: one that went silent (the store lost
 * with its host, a failover: nothing closes it) would otherwise be taken for listening for good, deletes unheard.
 */
const PROBE_MS = 5_000;
const PROBE_ANSWER_MS = 5_000;

export interface IdMapCacheOptions {
  /** Entries kept in process; the oldest are evicted first. */
  maxEntries?: number;
  /** How long a cached entry is trusted: bounds how long a delete made by another replica goes unseen. */
  ttlMs?: number;
  /**
   * Listens for deletes made elsewhere on a connection of its own to this store, so that a session deleted and made
   * again by another process (a backfill or repair re-creating it, an agent on another replica) is not written to
   * under its old id for the ttl. While it cannot listen (the store away) the ttl bounds staleness as without it, and
   * the cache is emptied when it listens again (deletes made meanwhile went unheard).
   */
  listenUrl?: string;
}

export class PgIdMap implements IdMap {
  private readonly cache = new Map<string, { id: string; until: number }>();
  private readonly maxEntries: number;
  private readonly ttlMs: number;
  /** Counts deletes heard (and re-listens): a mapping read while one arrived may be the deleted one, and is not cached. */
  private heard = 0;
  private listener: pg.Client | undefined;
  /** The listener once its LISTEN took effect. */
  private heardFrom: pg.Client | undefined;
  private relisten: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly pool: pg.Pool,
    opts: IdMapCacheOptions = {},
  ) {
    this.maxEntries = opts.maxEntries ?? 10_000;
    this.ttlMs = opts.ttlMs ?? 60_000;
    if (opts.listenUrl !== undefined) void this.listen(opts.listenUrl);
  }

  /** Whether deletes made elsewhere reach this cache now. */
  listening(): boolean {
    return this.listener !== undefined && this.heardFrom === this.listener;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.relisten);
    if (this.listener) await endClient(this.listener);
  }

  private async listen(url: string): Promise<void> {
    const client = pgClient(url, 'id map', { keepAlive: true, connectionTimeoutMillis: 5_000 });
    const lost = (err?: Error) => {
      if (this.listener !== client) return;
      this.listener = undefined;
      // Said once per loss, not for each attempt while the store stays away.
      if (err && this.heardFrom === client)
        log.warn({ err }, 'id map listener lost: deletes by other processes are seen after the cache ttl until it listens again');
      if (!this.closed) this.relisten = setTimeout(() => void this.listen(url), RELISTEN_MS).unref();
    };
    this.listener = client;
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (n) => {
      this.heard++;
      if (n.payload) this.cache.delete(n.payload);
      else this.cache.clear();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
      if (this.listener === client) {
        // Deletes made before it listened went unheard: nothing cached before is kept.
        this.heard++;
        this.cache.clear();
        this.heardFrom = client;
        this.probe(client, lost);
      }
    } catch (err) {
      lost(err as Error);
      await endClient(client);
    }
    if (this.closed) await endClient(client);
  }

  /** Asks the listener to answer every PROBE_MS while it is the listener; one that does not is given up. */
  private probe(client: pg.Client, lost: (err: Error) => void): void {
    const timer = setInterval(() => {
      if (this.closed || this.listener !== client) return clearInterval(timer);
      const silent = () => new Error(`state store gave no answer within ${PROBE_ANSWER_MS} ms (id map listener)`);
      withDeadline(client.query('SELECT 1'), PROBE_ANSWER_MS, silent).catch((err: Error) => {
        clearInterval(timer);
        lost(err);
        void endClient(client);
      });
    }, PROBE_MS).unref();
  }

  async get(service: ServiceName, legacyKey: string): Promise<string | undefined> {
    const hit = this.cached(service, legacyKey);
    if (hit !== undefined) return hit;
    const heard = this.heard;
    const { rows } = await this.pool.query<{ id: string }>('SELECT orchestrator_session_id AS id FROM id_map WHERE service = $1 AND legacy_key = $2', [
      service,
      storableKey(legacyKey),
    ]);
    const id = rows[0]?.id;
    if (id !== undefined && heard === this.heard) this.remember(service, legacyKey, id);
    return id;
  }

  set(service: ServiceName, legacyKey: string, orchestratorSessionId: string): Promise<string> {
    return this.claim(service, legacyKey, orchestratorSessionId);
  }

  /** set(), resolving with the mapping in force afterwards: the first one written for the key. */
  async claim(service: ServiceName, legacyKey: string, orchestratorSessionId: string): Promise<string> {
    const { rows } = await this.pool.query<{ id: string }>(
      `WITH ins AS (
         INSERT INTO id_map (service, legacy_key, orchestrator_session_id) VALUES ($1, $2, $3)
         ON CONFLICT (service, legacy_key) DO NOTHING
         RETURNING orchestrator_session_id AS id)
       SELECT id FROM ins
       UNION ALL
       SELECT orchestrator_session_id FROM id_map WHERE service = $1 AND legacy_key = $2
       LIMIT 1`,
      [service, storableKey(legacyKey), orchestratorSessionId],
    );
    // Empty only when a concurrent insert committed after this statement's snapshot; it is visible now.
    const id = rows[0]?.id ?? (await this.uncachedGet(service, legacyKey)) ?? orchestratorSessionId;
    this.remember(service, legacyKey, id);
    return id;
  }

  async delete(service: ServiceName, legacyKey: string): Promise<void> {
    this.cache.delete(cacheKey(service, legacyKey));
    // The announcement is sent when the delete commits (one statement: one transaction).
    await this.pool.query(
      `WITH d AS (DELETE FROM id_map WHERE service = $1 AND legacy_key = $2 RETURNING 1)
       SELECT pg_notify('${CHANNEL}', $3) FROM d`,
      [service, storableKey(legacyKey), announced(cacheKey(service, legacyKey))],
    );
  }

  private async uncachedGet(service: ServiceName, legacyKey: string): Promise<string | undefined> {
    this.cache.delete(cacheKey(service, legacyKey));
    return this.get(service, legacyKey);
  }

  private cached(service: ServiceName, legacyKey: string): string | undefined {
    const key = cacheKey(service, legacyKey);
    const entry = this.cache.get(key);
    if (!entry) return undefined;
    if (entry.until < Date.now()) {
      this.cache.delete(key);
      return undefined;
    }
    return entry.id;
  }

  private remember(service: ServiceName, legacyKey: string, id: string): void {
    const key = cacheKey(service, legacyKey);
    this.cache.delete(key);
    this.cache.set(key, { id, until: Date.now() + this.ttlMs });
    if (this.cache.size > this.maxEntries) this.cache.delete(this.cache.keys().next().value!);
  }
}

/** In PostgreSQL's text (a notification's payload): the key as stored, after its service and a newline. */
const cacheKey = (service: string, legacyKey: string) => `${service}\n${storableKey(legacyKey)}`;
const announced = (key: string) => (Buffer.byteLength(key) < MAX_PAYLOAD ? key : '');
