/**
 * Per-key locks shared by every replica on one state store: PostgreSQL advisory locks on connections of their
 * own, so a replica that dies lets go of its keys with its connections, and no pooled connection waits on a lock.
 */
import pg from 'pg';
import { childLogger } from '../telemetry/log.js';
import { connectClient } from './client.js';
import { storableKey } from '../util/storable-key.js';
import { KeyChains } from '../util/key-chains.js';
import { KeyBusy, type KeyLocks } from '../services/types.js';
import type { ServiceName } from '../services/registry.js';

const log = childLogger('key-locks');

/** The advisory locks' first key: memshift's key locks apart from any other advisory lock on the database. */
const LOCK_CLASS = 0x6d736b6c;
/**
 * Connections per replica, each holding the locks of its share of the keys (a key's lock lives on the connection
 * that took it): one lock statement at a time per connection bounds a replica's holds per second.
 */
const CONNECTIONS = 4;
/** While the store cannot be reached, keys are held in this process only for this long before it is tried again. */
const UNREACHABLE_PAUSE_MS = 5_000;

export interface KeyLockOptions {
  /** How long a key held by another replica is waited for before the work fails; default 10 s. */
  waitMs?: number;
}

export class PgKeyLocks implements KeyLocks {
  private readonly pools: pg.Pool[];
  private readonly waitMs: number;
  private unreachableUntil = 0;
  private readonly chains = new KeyChains();

  constructor(connectionString: string, opts: KeyLockOptions = {}) {
    // Connections that never idle out: a session advisory lock lives on the connection that took it.
    this.pools = Array.from({ length: CONNECTIONS }, () => {
      const pool = new pg.Pool({ connectionString, max: 1, idleTimeoutMillis: 0, connectionTimeoutMillis: 1_000, query_timeout: 1_000, keepAlive: true });
      pool.on('error', (err) => log.warn({ err }, 'key lock connection lost: its keys were let go'));
      return pool;
    });
    this.waitMs = opts.waitMs ?? 10_000;
  }

  /**
   * Runs `work` while nothing else, in this process or another replica, runs work on the key. A store that cannot be
   * reached does not stop it (the state store's outage must not stop the agents' writes): the key is then held in
   * this process only.
   */
  hold<T>(service: ServiceName, key: string, work: () => Promise<T>): Promise<T> {
    // Stored keys are spelt so that any legacy id (NUL, lone surrogates) makes valid text.
    const name = `${service}:${storableKey(key)}`;
    // An advisory lock is re-entrant on its connection: work of this process waits its turn here first.
    return this.chains.run(name, async () => {
      const held = await this.acquire(service, key, name);
      try {
        return await work();
      } finally {
        // Not waited for: the caller's answer needs no unlock, and this process's next lock statement for the key
        // queues behind it on the key's connection (which re-enters the lock even if it came first).
        if (held) void this.query('SELECT pg_advisory_unlock($1, hashtext($2)) AS ok', name).catch(() => undefined);
      }
    });
  }

  close(): Promise<void> {
    return Promise.all(this.pools.map((p) => p.end())).then(() => undefined);
  }

  /**
   * One lock statement. One that failed may still have taken or kept its lock on the server (a timed-out reply):
   * the connection is dropped then, which lets go of every key it held, rather than leave a key held for good.
   */
  private async query(sql: string, name: string): Promise<boolean> {
    const client = await connectClient(this.pools[shardOf(name)]!);
    try {
      const { rows } = await client.query<{ ok: boolean }>(sql, [LOCK_CLASS, name]);
      client.release();
      return rows[0]?.ok === true;
    } catch (err) {
      client.release(true);
      throw err;
    }
  }

  private async acquire(service: ServiceName, key: string, name: string): Promise<boolean> {
    const deadline = Date.now() + this.waitMs;
    for (let pause = 1; ; pause = Math.min(pause * 2, 50)) {
      if (Date.now() < this.unreachableUntil) return false;
      try {
        if (await this.query('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', name)) return true;
      } catch (err) {
        // The server refusing the statement is a fault to see, not an outage to ride out.
        if (err instanceof pg.DatabaseError) throw err;
        log.warn({ err }, 'state store unreachable: keys held in this process only for a while');
        this.unreachableUntil = Date.now() + UNREACHABLE_PAUSE_MS;
        return false;
      }
      if (Date.now() >= deadline) throw new KeyBusy(service, key, this.waitMs);
      await new Promise((r) => setTimeout(r, pause));
    }
  }
}

/** The connection a key's lock statements go to: always the same one for a key. */
function shardOf(name: string): number {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) | 0;
  return Math.abs(h) % CONNECTIONS;
}
