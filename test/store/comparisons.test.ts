/** Comparison counts: buffered per minute, flushed, summed per route and over time. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComparisonRecord } from '../../src/store/comparisons.js';
import { openStore, type Store } from '../../src/store/db.js';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/store/embedded.js';
import { tempDataDir, type TempDir } from './helpers.js';

const T0 = new Date('2030-01-01T10:00:00Z');
const at = (minute: number, second = 0) => new Date(T0.getTime() + minute * 60_000 + second * 1000);

describe('comparison counts', () => {
  let dir: TempDir;
  let store: Store;
  let restarted: EmbeddedPostgresHandle | undefined;

  beforeAll(async () => {
    dir = await tempDataDir();
    store = await openStore({ dataDir: dir.dataDir, valuesAtRest: { retentionMs: 3_600_000 } });
  });

  afterAll(async () => {
    await store?.close();
    await restarted?.stop();
    await dir?.remove();
  });

  const rec = (r: Omit<ComparisonRecord, 'service'> & { service?: string }) => store.comparisons.record({ service: 'session-memory', ...r });

  it('aggregates per minute and sums across flushes', async () => {
    rec({ action: 'get_context', outcome: 'match', legacyMs: 2, newMs: 4, at: at(0, 5) });
    rec({ action: 'get_context', outcome: 'match', legacyMs: 6, newMs: 10, at: at(0, 50) });
    rec({ action: 'get_context', outcome: 'mismatch', legacyMs: 3, newMs: 30, at: at(1, 1) });
    await store.flush();
    rec({ action: 'get_context', outcome: 'match', legacyMs: 4, newMs: 1, at: at(0, 59) });
    rec({ action: 'get_context', outcome: 'new_error', legacyMs: 5, at: at(1, 2) });
    rec({ action: 'get_context', outcome: 'skipped', at: at(1, 3) });
    rec({ action: 'add_interaction', outcome: 'legacy_error', newMs: 7, at: at(1, 4) });
    // Three more skipped reads, then one re-check standing for all four: compared, not requested again.
    for (let i = 0; i < 3; i++) rec({ action: 'get_context', outcome: 'skipped', at: at(1, 5) });
    rec({ action: 'get_context', outcome: 'recheck_mismatch', count: 4, legacyMs: 1, newMs: 1, at: at(1, 6) });
    await store.flush();

    const rows = (await store.pool.query('SELECT * FROM comparison_counts WHERE minute >= $1 ORDER BY minute, action, outcome', [T0])).rows;
    expect(rows.map((r) => [r.minute.toISOString(), r.action, r.outcome, Number(r.count)])).toEqual([
      [at(0).toISOString(), 'get_context', 'match', 3],
      [at(1).toISOString(), 'add_interaction', 'legacy_error', 1],
      [at(1).toISOString(), 'get_context', 'mismatch', 1],
      [at(1).toISOString(), 'get_context', 'new_error', 1],
      [at(1).toISOString(), 'get_context', 'recheck_mismatch', 4],
      [at(1).toISOString(), 'get_context', 'skipped', 4],
    ]);
    expect(rows[0]).toMatchObject({ legacy_ms_sum: 12, legacy_ms_max: 6, new_ms_sum: 15, new_ms_max: 10 });

    const summary = await store.comparisons.summary({ since: T0, service: 'session-memory' });
    expect(summary).toEqual([
      {
        service: 'session-memory',
        action: 'add_interaction',
        requests: 1,
        compared: 0,
        match: 0,
        mismatch: 0,
        legacyError: 1,
        newError: 0,
        skipped: 0,
        rechecked: 0,
        mismatchRate: 0,
        legacyAvgMs: null,
        legacyMaxMs: null,
        newAvgMs: 7,
        newMaxMs: 7,
      },
      {
        service: 'session-memory',
        action: 'get_context',
        requests: 9,
        compared: 8,
        match: 3,
        mismatch: 5,
        legacyError: 0,
        newError: 1,
        skipped: 4,
        rechecked: 4,
        mismatchRate: 5 / 8,
        legacyAvgMs: 21 / 6,
        legacyMaxMs: 6,
        newAvgMs: 46 / 5,
        newMaxMs: 30,
      },
    ]);
  });

  it('summary honours the time window and service; series gives one row per minute', async () => {
    store.comparisons.record({ service: 'jarvis-memory', action: 'get_memories', outcome: 'match', at: at(0) });
    await store.flush();
    const minuteOne = await store.comparisons.summary({ since: at(1), until: at(2), service: 'session-memory' });
    expect(minuteOne.map((r) => [r.action, r.requests])).toEqual([
      ['add_interaction', 1],
      ['get_context', 6],
    ]);
    const jarvis = await store.comparisons.summary({ since: T0, service: 'jarvis-memory' });
    expect(jarvis.map((r) => [r.action, r.match])).toEqual([['get_memories', 1]]);

    const series = await store.comparisons.series({ service: 'session-memory', since: T0, until: at(10) });
    expect(series.map((r) => [r.minute.toISOString(), r.requests, r.match, r.mismatch])).toEqual([
      [at(0).toISOString(), 3, 3, 0],
      [at(1).toISOString(), 7, 0, 5],
    ]);
  });

  it('ignores bad records instead of poisoning the batch', async () => {
    store.comparisons.record({ service: 'session-memory', action: 'x', outcome: 'bogus' as never, at: at(3) });
    rec({ action: 'nul\u0000action', outcome: 'match', legacyMs: Number.NaN, at: at(3) });
    await store.flush();
    const [row] = await store.comparisons.summary({ since: at(3), until: at(4) });
    expect(row).toMatchObject({ action: 'nul\uFFFDaction', requests: 1, match: 1, legacyAvgMs: null });
  });

  it('the timer flushes without being asked', async () => {
    rec({ action: 'timer', outcome: 'match', at: at(5) });
    const deadline = Date.now() + 20_000;
    let seen = 0;
    while (Date.now() < deadline && seen === 0) {
      await new Promise((r) => setTimeout(r, 100));
      seen = (await store.comparisons.summary({ since: at(5), until: at(6) }))[0]?.requests ?? 0;
    }
    expect(seen).toBe(1);
  });

  it('keeps counts and samples through a database outage and flushes once it is back', async () => {
    const port = store.embedded!.port;
    await store.embedded!.stop();
    expect(() => rec({ action: 'outage', outcome: 'mismatch', at: at(7) })).not.toThrow();
    rec({ action: 'outage', outcome: 'mismatch', at: at(7) });
    await expect(store.flush()).resolves.toBeUndefined();
    rec({ action: 'outage', outcome: 'match', at: at(7) });
    store.samples.add({ service: 'session-memory', action: 'outage', request: {}, legacyReply: 1, newReply: 2, diff: [] });
    await expect(store.flush()).resolves.toBeUndefined();

    restarted = await startEmbeddedPostgres({ dataDir: dir.dataDir, port });
    await store.flush();
    const [row] = await store.comparisons.summary({ since: at(7), until: at(8) });
    expect(row).toMatchObject({ action: 'outage', requests: 3, mismatch: 2, match: 1 });
    expect((await store.samples.list({ action: 'outage' })).map((x) => x.newReply)).toEqual([2]);
  });
});
