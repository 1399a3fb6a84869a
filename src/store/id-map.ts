/**
 * The id map in PostgreSQL (legacy key -> orchestrator session id, per service), with a small
 * in-process cache. The first mapping written for a key wins, on every replica.
 */
import type pg from 'pg';
import type { ServiceName } from '../services/registry.js';
import type { IdMap } from '../services/types.js';
import { storableKey } from '../util/storable-key.js';

export interface IdMapCacheOptions {
  /** Entries kept in process; the oldest are evicted first. */
  maxEntries?: number;
  /** How long a cached entry is trusted: bounds how long a delete made by another replica goes unseen. */
  ttlMs?: number;
}

export class PgIdMap implements IdMap {
  private readonly cache = new Map<string, { id: string; until: number }>();
  private readonly creating = new Map<string, Promise<string>>();
  private readonly maxEntries: number;
  private readonly ttlMs: number;

  constructor(
    private readonly pool: pg.Pool,
    opts: IdMapCacheOptions = {},
  ) {
    this.maxEntries = opts.maxEntries ?? 10_000;
    this.ttlMs = opts.ttlMs ?? 60_000;
  }

  async get(service: ServiceName, legacyKey: string): Promise<string | undefined> {
    const hit = this.cached(service, legacyKey);
    if (hit !== undefined) return hit;
    const { rows } = await this.pool.query<{ id: string }>('SELECT orchestrator_session_id AS id FROM id_map WHERE service = $1 AND legacy_key = $2', [
      service,
      storableKey(legacyKey),
    ]);
    const id = rows[0]?.id;
    if (id !== undefined) this.remember(service, legacyKey, id);
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
    await this.pool.query('DELETE FROM id_map WHERE service = $1 AND legacy_key = $2', [service, storableKey(legacyKey)]);
  }

  /**
   * The mapping for a key, creating it with `create` when missing. Concurrent calls in this process for
   * one key share a single creation. Across replicas two creations can race: the first mapping written
   * is returned to both, and the loser's created session is left unused.
   */
  getOrCreate(service: ServiceName, legacyKey: string, create: () => Promise<string>): Promise<string> {
    const key = cacheKey(service, legacyKey);
    const pending = this.creating.get(key);
    if (pending) return pending;
    const work = (async () => (await this.get(service, legacyKey)) ?? this.claim(service, legacyKey, await create()))();
    this.creating.set(key, work);
    return work.finally(() => this.creating.delete(key));
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

const cacheKey = (service: string, legacyKey: string) => `${service}\u0000${legacyKey}`;
