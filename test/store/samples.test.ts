/** Mismatch samples: capped per route, sanitised, top differing fields. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/store/db.js';
import type { DiffEntry } from '../../src/store/samples.js';
import { tempDataDir, type TempDir } from './helpers.js';

const CAP = 5;
const diff = (...paths: string[]): DiffEntry[] => paths.map((path) => ({ path, legacy: 1, new: 2 }));

describe('mismatch samples', () => {
  let dir: TempDir;
  let store: Store;

  beforeAll(async () => {
    dir = await tempDataDir();
    // Full values (the redacted default is test/store/at-rest.test.ts's), so the kept samples can be told apart.
    store = await openStore({ dataDir: dir.dataDir, sampleCapPerRoute: CAP, flushIntervalMs: 60_000, valuesAtRest: { retentionMs: 3_600_000 } });
  });

  afterAll(async () => {
    await store?.close();
    await dir?.remove();
  });

  const add = (service: string, action: string, n: number, paths: string[] = ['context']) =>
    store.samples.add({
      service,
      action,
      request: { action, n },
      legacyReply: { status: 'success', n },
      newReply: { status: 'success', n: -n },
      diff: diff(...paths),
    });

  it('keeps the newest samples per route, across flushes', async () => {
    for (let n = 1; n <= 3; n++) add('session-memory', 'get_context', n);
    await store.flush();
    for (let n = 4; n <= 9; n++) add('session-memory', 'get_context', n);
    for (let n = 1; n <= 2; n++) add('session-memory', 'add_interaction', n);
    await store.flush();

    const kept = await store.samples.list({ service: 'session-memory', action: 'get_context' });
    expect(kept.map((s) => (s.request as { n: number }).n)).toEqual([9, 8, 7, 6, 5]);
    expect(kept[0]).toMatchObject({
      service: 'session-memory',
      action: 'get_context',
      request: { action: 'get_context', n: 9 },
      legacyReply: { status: 'success', n: 9 },
      newReply: { status: 'success', n: -9 },
      diff: diff('context'),
    });
    const other = await store.samples.list({ action: 'add_interaction' });
    expect(other.map((s) => (s.request as { n: number }).n)).toEqual([2, 1]);
    expect((await store.samples.list({ service: 'session-memory', limit: 3 })).length).toBe(3);
    const { rows } = await store.pool.query('SELECT count(*)::int AS n FROM mismatch_samples');
    expect(rows[0].n).toBe(CAP + 2);
  });

  it('a burst between flushes is capped in memory too', async () => {
    for (let n = 1; n <= 100; n++) add('contextual-memory', 'get_context', n);
    await store.flush();
    const kept = await store.samples.list({ service: 'contextual-memory' });
    expect(kept.map((s) => (s.request as { n: number }).n)).toEqual([100, 99, 98, 97, 96]);
  });

  it('writes out only the samples it keeps: a burst past the cap serialises the cap', async () => {
    let reads = 0;
    for (let n = 1; n <= 100; n++) {
      const request: Record<string, unknown> = { action: 'burst' };
      // Read once each time the sample is written out.
      Object.defineProperty(request, 'n', { enumerable: true, get: () => (reads++, n) });
      store.samples.add({ service: 'session-memory', action: 'burst', request, legacyReply: 1, newReply: 2, diff: [] });
    }
    await store.flush();
    expect(reads).toBe(CAP);
    const kept = await store.samples.list({ service: 'session-memory', action: 'burst' });
    expect(kept.map((s) => (s.request as { n: number }).n)).toEqual([100, 99, 98, 97, 96]);
  });

  it('stores what jsonb cannot hold, and drops a sample that cannot be written out', async () => {
    const request: Record<string, unknown> = { action: 'get_memories', user_id: 'u\u0000x', bad: 'a\uD800b' };
    store.samples.add({ service: 'jarvis-memory', action: 'get_memories', request, legacyReply: undefined, newReply: null, diff: [] });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => store.samples.add({ service: 'jarvis-memory', action: 'get_memories', request: cyclic, legacyReply: 1, newReply: 2, diff: [] })).not.toThrow();
    await store.flush();
    const [s] = await store.samples.list({ service: 'jarvis-memory' });
    expect(s?.request).toEqual({ action: 'get_memories', user_id: 'u\uFFFDx', bad: 'a\uFFFDb' });
    expect(s?.legacyReply).toBeNull();
    expect((await store.samples.list({ service: 'jarvis-memory' })).length).toBe(1);
  });

  it('topFields counts differing paths over the kept samples', async () => {
    add('jarvis-memory', 'get_memories', 1, ['memories[0].timestamp', 'memories[0].memory']);
    add('jarvis-memory', 'get_memories', 2, ['memories[0].timestamp']);
    add('jarvis-memory', 'recall', 3, ['memories[0].timestamp', 'status']);
    add('session-memory', 'get_context', 10, ['status']);
    await store.flush();
    expect(await store.samples.topFields({ service: 'jarvis-memory' })).toEqual([
      { path: 'memories[0].timestamp', count: 3 },
      { path: 'memories[0].memory', count: 1 },
      { path: 'status', count: 1 },
    ]);
    expect(await store.samples.topFields({ service: 'jarvis-memory', limit: 1 })).toEqual([{ path: 'memories[0].timestamp', count: 3 }]);
    expect(await store.samples.topFields({ service: 'jarvis-memory', since: new Date(Date.now() + 60_000) })).toEqual([]);
  });
});
