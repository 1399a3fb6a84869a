/**
 * Acceptance: 100,000 session-memory records a side (SQLite file vs the orchestrator's PostgreSQL) with 25
 * planted differences; reconcile reports exactly those, --repair fixes them through the translator, a
 * second run reports none. Also: an interrupted run resumes from its checkpoint, and a difference that
 * converges during the run (a write in flight) is not reported.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { openFlags, type Flags } from '../../src/flags/source.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KeyRange } from '../../src/reconcile/canonical.js';
import { openLegacySource } from '../../src/reconcile/legacy.js';
import { openOrchestratorSource } from '../../src/reconcile/orchestrator.js';
import { reconcile } from '../../src/reconcile/reconcile.js';
import { reconcileService } from '../../src/reconcile/sides.js';
import { DeferredSource, type RecordSource } from '../../src/reconcile/source.js';
import { listReconcileRuns, ReconcileRuns } from '../../src/reconcile/runs.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { fixtureKey, generateSessionMemoryFixture, type Planted } from '../../src/tools/bench/fixtures.js';
import { openStore, type Store } from '../../src/store/index.js';
import { freshDatabaseUrl } from '../support/database.js';
import { configFor, startSims } from '../support/stack.js';

const RECORDS = 100_000;
const SERVICE = 'session-memory';

let dir: string;
let url: string;
let store: Store;
let orchestratorDb: pg.Pool;
let sims: SimHandle;
let flags: Flags;
let config: Config;
let planted: Planted[];
let sqlitePath: string;

const summary = (ds: { key: string; kind: string }[]) => ds.map((d) => `${d.kind} ${d.key}`).sort();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'memshift-reconcile-'));
  url = await freshDatabaseUrl();
  store = await openStore({ url });
  orchestratorDb = new pg.Pool({ connectionString: url, max: 2 });
  sqlitePath = join(dir, 'session_memory.db');
  planted = await generateSessionMemoryFixture({ records: RECORDS, differences: 25, sqlitePath, orchestrator: orchestratorDb, state: store.pool });
  // The orchestrator simulator starts on those tables: repairs go through it, and it writes them back.
  sims = await startSims({ storage: { orchestratorDatabaseUrl: url, writeDelayMs: 20 } });
  config = configFor(sims, url, {
    reconcile: { legacyFiles: { [SERVICE]: sqlitePath }, orchestratorDatabaseUrl: url, recheckDelayMs: 300 },
  });
  flags = await openFlags({ env: {} });
}, 60_000);

afterAll(async () => {
  await flags?.close();
  await sims?.close();
  await orchestratorDb?.end();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('reconcile session-memory, 100,000 records a side', () => {
  it('reports exactly the 25 planted differences, with field paths, at a cost that follows them', async () => {
    expect(planted).toHaveLength(25);
    const { run, differences, remaining } = await reconcileService(config, store, flags, SERVICE);
    expect(summary(differences)).toEqual(summary(planted));
    for (const p of planted.filter((x) => x.field)) {
      expect(differences.find((d) => d.key === p.key)!.diffs.map((f) => f.path)).toEqual([p.field]);
    }
    expect(remaining).toBe(25);
    expect(run).toMatchObject({ status: 'done', truth: 'legacy', stage: 'off', missingInNew: 5, missingInLegacy: 5, differing: 15 });
    expect(run.legacyRecords).toBe(RECORDS - 5);
    expect(run.newRecords).toBe(RECORDS - 5);
    // Records are fetched only around the differences: a few leaves, not the data set.
    expect(run.recordsFetched).toBeLessThan(25 * 2 * 64);
    expect(run.sampleDiffs.length).toBe(20);
  });

  it('--repair copies from legacy through the translator; a second run reports 0', async () => {
    const repaired = await reconcileService(config, store, flags, SERVICE, { repair: true });
    expect(repaired.differences).toHaveLength(25);
    expect(repaired.differences.every((d) => d.repaired)).toBe(true);
    expect(repaired.remaining).toBe(0);
    expect(repaired.run).toMatchObject({ repair: true, repaired: 25, repairFailed: 0 });

    await sims.flush();
    const again = await reconcileService(config, store, flags, SERVICE);
    expect(again.differences).toEqual([]);
    expect(again.remaining).toBe(0);
    expect(again.run.recordsFetched).toBe(0);
    expect(again.run.legacyRecords).toBe(RECORDS - 5);
    expect(again.run.newRecords).toBe(RECORDS - 5);

    const runs = await listReconcileRuns(store.pool, { service: SERVICE });
    expect(runs.map((r) => [r.repair, r.missingInNew + r.missingInLegacy + r.differing])).toEqual([
      [false, 0],
      [true, 25],
      [false, 25],
    ]);
  });

  it('resumes an interrupted run from its checkpoint, keeping what it had found', async () => {
    // A run that died after comparing every key below the checkpoint, having found one difference there.
    const runs = new ReconcileRuns(store.pool);
    const dead = await runs.start(SERVICE, { trigger: 'manual', stage: 'off', truth: 'legacy', repair: false });
    const checkpoint = fixtureKey(60_000);
    await runs.checkpoint(dead.id, [{ key: fixtureKey(10), kind: 'missing_in_new', diffs: [] }], {
      checkpointKey: checkpoint,
      legacyRecords: 60_000,
      newRecords: 60_000,
      rangesChecked: 1,
      recordsFetched: 0,
    });
    // New differences on both sides of the checkpoint: only the one above it may be found.
    await orchestratorDb.query(`UPDATE sessions SET user_id = '"x"' WHERE metadata->>'legacy_session_id' = ANY($1)`, [
      [fixtureKey(20_000), fixtureKey(80_000)],
    ]);
    await orchestratorDb.query(`UPDATE sessions SET user_id = '"x"' WHERE metadata->>'legacy_session_id' = $1`, [fixtureKey(10)]);

    const resumed = await reconcileService(config, store, flags, SERVICE);
    expect(resumed.run.id).toBe(dead.id);
    // fixtureKey(10) was recorded as missing before the crash; the re-check sees what it is now.
    expect(summary(resumed.differences)).toEqual(
      summary([
        { key: fixtureKey(10), kind: 'differing' },
        { key: fixtureKey(80_000), kind: 'differing' },
      ]),
    );

    await orchestratorDb.query(`UPDATE sessions SET user_id = to_jsonb('user-' || ((metadata->'metadata'->>'n')::int % 1000)) WHERE user_id = '"x"'`);
  });

  it('does not report a key whose write landed during the run (re-checked at its end)', async () => {
    const key = fixtureKey(90_001);
    const { rows } = await orchestratorDb.query<{ id: string }>(`SELECT session_id AS id FROM sessions WHERE metadata->>'legacy_session_id' = $1`, [key]);
    const setText = (text: string) =>
      orchestratorDb.query(`UPDATE memory_entries SET content = jsonb_set(content, '{text}', to_jsonb($2::text)) WHERE session_id = $1`, [rows[0]!.id, text]);
    await setText('in flight');
    let landing: Promise<unknown> | undefined;
    const { differences, run } = await reconcileService(config, store, flags, SERVICE, {
      range: { from: fixtureKey(90_000), to: fixtureKey(91_000) },
      // The pending secondary write lands while the run goes on, once its window is compared, by the session's id: it
      // must land within the re-check's wait, and a statement scanning every session for the key once took longer
      // than that beside other test files.
      onProgress: () => void (landing ??= setText('message 90001')),
    });
    await landing;
    expect(differences).toEqual([]);
    expect(run.converged).toBe(1);
  });

  it('re-checks again while keys still converge (the orchestrator writing its tables behind its replies)', async () => {
    const [early, late] = [fixtureKey(93_001), fixtureKey(93_002)];
    const setText = (key: string, text: string) =>
      orchestratorDb.query(
        `UPDATE memory_entries SET content = jsonb_set(content, '{text}', to_jsonb($2::text))
         WHERE session_id = (SELECT session_id FROM sessions WHERE metadata->>'legacy_session_id' = $1)`,
        [key, text],
      );
    await Promise.all([setText(early, 'behind'), setText(late, 'behind')]);
    const inner = openOrchestratorSource(SERVICE, url);
    let reads = 0;
    // Both differ while compared. The first re-check sees `early` landed; `late` lands only after that read, as a
    // slow write-behind would.
    const neu: RecordSource = Object.assign(Object.create(inner) as RecordSource, {
      recordsOf: async (keys: readonly string[]) => {
        if (++reads === 1) await setText(early, 'message 93001');
        const records = await inner.recordsOf(keys);
        if (reads === 1) await setText(late, 'message 93002');
        return records;
      },
    });
    const legacy = await openLegacySource(SERVICE, sqlitePath);
    try {
      const { differences, run } = await reconcile({
        service: SERVICE,
        pool: store.pool,
        sides: { legacy, new: neu },
        truth: 'legacy',
        range: { from: fixtureKey(93_000), to: fixtureKey(94_000) },
        tuning: { recheckDelayMs: 100 },
      });
      expect(differences).toEqual([]);
      expect(run.converged).toBe(2);
      expect(reads).toBe(2);
    } finally {
      await Promise.all([legacy.close(), inner.close()]);
    }
  });

  it('has the orchestrator checksum the next windows while the legacy store is still being read', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const legacy = new DeferredSource(gate.then(() => openLegacySource(SERVICE, sqlitePath)));
    const inner = openOrchestratorSource(SERVICE, url);
    const asked: number[] = [];
    // The orchestrator's source as it is, its checksums counted.
    const neu: RecordSource = Object.assign(Object.create(inner) as RecordSource, {
      checksums: (ranges: readonly KeyRange[]) => (asked.push(ranges.length), inner.checksums(ranges)),
    });
    const running = reconcile({
      service: SERVICE,
      pool: store.pool,
      sides: { legacy, new: neu },
      truth: 'legacy',
      range: { to: fixtureKey(60_000) },
      tuning: { window: 8, recheckDelayMs: 0 },
    });
    let early: number[];
    try {
      // About 60 segments of 1,000 keys (cut from a sample), windows of 8: the first and the 4 after it, before
      // any legacy checksum.
      const deadline = Date.now() + 30_000;
      while (asked.length < 5 && Date.now() < deadline) await sleep(50);
      early = asked.slice();
    } finally {
      release();
    }
    const { run } = await running;
    expect(early.slice(0, 5)).toEqual([8, 8, 8, 8, 8]);
    expect(run).toMatchObject({ status: 'done', legacyRecords: run.newRecords });
    expect(run.legacyRecords).toBeGreaterThan(59_000);
    await Promise.all([legacy.close(), inner.close()]);
  });
});
