/** The id map (legacy key to orchestrator session): first write wins across replicas. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/store/db.js';
import { PgIdMap } from '../../src/store/id-map.js';
import { tempDataDir, type TempDir } from './helpers.js';
import { Relay } from '../support/relay.js';

describe('id map', () => {
  let dir: TempDir;
  let store: Store;

  beforeAll(async () => {
    dir = await tempDataDir();
    store = await openStore({ dataDir: dir.dataDir });
  });

  afterAll(async () => {
    await store?.close();
    await dir?.remove();
  });

  const rowsFor = async (legacyKey: string) =>
    (await store.pool.query('SELECT service, orchestrator_session_id AS id FROM id_map WHERE legacy_key = $1 ORDER BY service', [legacyKey])).rows;

  it('set, get and delete, per service', async () => {
    const map = store.idMap;
    expect(await map.get('session-memory', 's1')).toBeUndefined();
    await map.set('session-memory', 's1', 'orch-1');
    await map.set('jarvis-memory', 's1', 'orch-j');
    expect(await map.get('session-memory', 's1')).toBe('orch-1');
    expect(await map.get('jarvis-memory', 's1')).toBe('orch-j');
    expect(await rowsFor('s1')).toEqual([
      { service: 'jarvis-memory', id: 'orch-j' },
      { service: 'session-memory', id: 'orch-1' },
    ]);
    await map.delete('session-memory', 's1');
    expect(await map.get('session-memory', 's1')).toBeUndefined();
    expect(await rowsFor('s1')).toEqual([{ service: 'jarvis-memory', id: 'orch-j' }]);
  });

  it('keeps ids apart that PostgreSQL text cannot hold as they are (NUL, lone surrogates, their escapes)', async () => {
    // Each from a fresh map, so nothing is answered from the in-process cache.
    const ids = ['a\u0000b', 'a\\0b', 'a\\\u0000b', 'u\ud800', 'u\udc00', 'u\ufffd', 'u\\uD800', 'u\ud83d\ude00', 'plain'];
    for (const [i, id] of ids.entries()) await new PgIdMap(store.pool).set('jarvis-memory', id, `orch-${i}`);
    for (const [i, id] of ids.entries()) expect(await new PgIdMap(store.pool).get('jarvis-memory', id), JSON.stringify(id)).toBe(`orch-${i}`);
    await new PgIdMap(store.pool).delete('jarvis-memory', 'a\u0000b');
    expect(await new PgIdMap(store.pool).get('jarvis-memory', 'a\u0000b')).toBeUndefined();
    expect(await new PgIdMap(store.pool).get('jarvis-memory', 'a\\0b')).toBe('orch-1');
  });

  it('keeps the first mapping written, seen from another replica too', async () => {
    const other = new PgIdMap(store.pool);
    await store.idMap.set('contextual-memory', 's2', 'first');
    await other.set('contextual-memory', 's2', 'second');
    expect(await other.claim('contextual-memory', 's2', 'third')).toBe('first');
    expect(await other.get('contextual-memory', 's2')).toBe('first');
    expect(await rowsFor('s2')).toEqual([{ service: 'contextual-memory', id: 'first' }]);
  });

  it('concurrent claims from many replicas agree on one mapping', async () => {
    const replicas = Array.from({ length: 8 }, () => new PgIdMap(store.pool));
    const won = await Promise.all(replicas.map((m, i) => m.claim('session-memory', 's3', `orch-${i}`)));
    expect(new Set(won).size).toBe(1);
    expect(await rowsFor('s3')).toEqual([{ service: 'session-memory', id: won[0] }]);
  });

  it('a delete by another replica reaches a listening cache at once: a session made again is written under its new id', async () => {
    const url = store.embedded!.url;
    const [a, b] = [new PgIdMap(store.pool, { listenUrl: url }), new PgIdMap(store.pool, { listenUrl: url })];
    try {
      const long = 'k'.repeat(5_000);
      for (const key of ['s8', long]) {
        await b.set('session-memory', key, 'orch-old');
        await expect.poll(() => a.listening(), { timeout: 10_000 }).toBe(true);
        expect(await a.get('session-memory', key)).toBe('orch-old');
        await b.delete('session-memory', key);
        await b.set('session-memory', key, 'orch-new');
        await expect.poll(() => a.get('session-memory', key), { timeout: 5_000 }).toBe('orch-new');
      }
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('listens again once its connection went silent (the store failed over): a delete made after is heard at once', async () => {
    const { relay, url: relayed } = await Relay.before(store.embedded!.url);
    const [a, b] = [new PgIdMap(store.pool, { listenUrl: relayed }), new PgIdMap(store.pool)];
    try {
      await expect.poll(() => a.listening(), { timeout: 10_000 }).toBe(true);
      // Nothing closes the lost store's connection; its session ended with its host.
      await relay.loseServer(store.pool);
      await expect.poll(() => a.listening(), { timeout: 30_000 }).toBe(false);
      await expect.poll(() => a.listening(), { timeout: 30_000 }).toBe(true);
      await b.set('session-memory', 's9', 'orch-old');
      expect(await a.get('session-memory', 's9')).toBe('orch-old');
      await b.delete('session-memory', 's9');
      await b.set('session-memory', 's9', 'orch-new');
      await expect.poll(() => a.get('session-memory', 's9'), { timeout: 5_000 }).toBe('orch-new');
    } finally {
      await Promise.all([a.close(), b.close()]);
      await relay.close();
    }
  }, 90_000);

  it('a cached entry expires, so a delete by another replica is seen after the ttl', async () => {
    const a = new PgIdMap(store.pool, { ttlMs: 50 });
    const b = new PgIdMap(store.pool);
    await a.set('session-memory', 's7', 'orch-s7');
    expect(await a.get('session-memory', 's7')).toBe('orch-s7');
    await b.delete('session-memory', 's7');
    await new Promise((r) => setTimeout(r, 80));
    expect(await a.get('session-memory', 's7')).toBeUndefined();
  });
});
