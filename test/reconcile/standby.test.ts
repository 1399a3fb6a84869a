/**
 * The reconciler's reader on a read replica of the orchestrator's database (a hot standby), where a DBA sends read-only
 * work: the standby cancels a statement whose locks or rows the primary's replay needs ("conflict with recovery"), as
 * the primary's DDL, VACUUM or lock taking goes on. Such a cancellation is asked again, not taken as the run's failure.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openOrchestratorSource } from '../../src/reconcile/orchestrator.js';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/store/embedded.js';
import { generateJarvisMemoryFixture } from '../../src/tools/bench/fixtures.js';
import { caughtUp, startStandby, type Standby } from '../support/standby.js';

const RECORDS = 20_000;
const dir = mkdtempSync(join(tmpdir(), 'memshift-standby-'));
let primary: EmbeddedPostgresHandle | undefined;
let standby: Standby | undefined;

beforeAll(async () => {
  primary = await startEmbeddedPostgres({ dataDir: join(dir, 'primary'), settings: { wal_keep_size: '256MB' } });
  const pool = new pg.Pool({ connectionString: primary.url, max: 2 });
  try {
    await generateJarvisMemoryFixture({ records: RECORDS, differences: 0, jsonPath: join(dir, 'jm.json'), orchestrator: pool });
  } finally {
    await pool.end();
  }
  // A replica that never delays its replay for a query (max_standby_streaming_delay 0): every conflict cancels.
  standby = await startStandby(primary, join(dir, 'standby'), { max_standby_streaming_delay: '0', hot_standby_feedback: 'off' });
  await caughtUp(primary.url, standby.url);
}, 180_000);

afterAll(async () => {
  await standby?.stop();
  await primary?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('asks again a statement the standby cancelled for a conflict with recovery, and reads the whole side', async () => {
  const source = openOrchestratorSource('jarvis-memory', standby!.url);
  const locker = new pg.Client({ connectionString: primary!.url });
  await locker.connect();
  // The primary takes the memories' table for a moment, over and over for two seconds (as DDL or a VACUUM's truncation
  // does): each lock's replay cancels the standby's statements reading the table.
  let locking = true;
  const locks = (async () => {
    const until = Date.now() + 2_000;
    while (Date.now() < until) {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE memory_entries IN ACCESS EXCLUSIVE MODE');
      await locker.query('COMMIT');
      await new Promise((r) => setTimeout(r, 10));
    }
    locking = false;
  })();
  try {
    let reads = 0;
    while (locking) {
      const [sums] = await source.checksums([{}]);
      expect(sums!.count).toBe(RECORDS);
      reads++;
    }
    expect(reads).toBeGreaterThan(0);
    // The standby did cancel statements of the reader's meanwhile.
    const c = new pg.Client({ connectionString: standby!.url });
    await c.connect();
    const { rows } = await c.query<{ n: string }>('SELECT confl_lock::text AS n FROM pg_stat_database_conflicts WHERE datname = current_database()');
    await c.end();
    expect(Number(rows[0]!.n)).toBeGreaterThan(0);
  } finally {
    await locks;
    await locker.end();
    await source.close();
  }
}, 120_000);
