/**
 * The runbook's SQL for the orchestrator's database (README, "Runbook: real servers", step 2): its grants are all the
 * reconciler's reader needs (every statement it runs there, run as a role made by that very SQL), and its indexes
 * serve the reader's ranges of legacy keys and its look for write tags, which it tells apart from tables without them.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { openOrchestratorSource } from '../../src/reconcile/orchestrator.js';
import { writeTag } from '../../src/services/orchestrator-client.js';
import { generateJarvisMemoryFixture } from '../../src/tools/bench/fixtures.js';
import { freshDatabaseUrl } from '../support/database.js';

const dir = mkdtempSync(join(tmpdir(), 'memshift-grants-'));
const role = `memshift_reader_${randomBytes(4).toString('hex')}`;
let admin: pg.Pool | undefined;
afterAll(async () => {
  await admin?.query(`DROP OWNED BY ${role}`).catch(() => undefined);
  await admin?.query(`DROP ROLE IF EXISTS ${role}`);
  await admin?.end();
  rmSync(dir, { recursive: true, force: true });
});

/** The SQL blocks of the runbook's step for the orchestrator's database: the grants, then the indexes. */
function runbookSql(): [string, string] {
  const readme = readFileSync('README.md', 'utf8');
  const step = readme.slice(readme.indexOf("**The orchestrator's database, read only**"), readme.indexOf('3. **Unleash**'));
  const blocks = [...step.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]!);
  expect(blocks).toHaveLength(2);
  return blocks as [string, string];
}

const statements = (sql: string) => sql.split(';').filter((s) => s.trim());

it("runs every reader statement as a role with only the runbook's grants", async () => {
  const url = await freshDatabaseUrl();
  admin = new pg.Pool({ connectionString: url, max: 1 });
  await generateJarvisMemoryFixture({ records: 200, differences: 0, jsonPath: join(dir, 'jm.json'), orchestrator: admin });
  const { rows } = await admin.query<{ memory_id: string }>('SELECT memory_id FROM memory_entries ORDER BY memory_id LIMIT 1');
  await admin.query('INSERT INTO memory_tags (memory_id, tag) VALUES ($1, $2)', [rows[0]!.memory_id, writeTag('w-1')]);

  const database = new URL(url).pathname.slice(1);
  const password = randomBytes(8).toString('hex');
  const [grants] = runbookSql();
  const sql = grants
    .replaceAll('memshift_reader', role)
    .replaceAll("'...'", `'${password}'`)
    .replace(/ON DATABASE orchestrator\b/, `ON DATABASE ${database}`);
  expect(sql).toMatch(/CREATE ROLE/);
  for (const statement of statements(sql)) await admin.query(statement);

  const asReader = new URL(url);
  asReader.username = role;
  asReader.password = password;
  const source = openOrchestratorSource('jarvis-memory', asReader.toString());
  try {
    const [sums] = await source.checksums([{ to: 'user-0000100' }, { from: 'user-0000100' }]);
    expect(sums!.count).toBe(100);
    expect(await source.records({}, { limit: 10 })).toHaveLength(10);
    expect(await source.recordsOf(['user-0000007'])).toHaveLength(1);
    await source.segmentKeys({}, 50);
    expect(await source.splitKeys({}, 2)).toHaveLength(1);
    expect(await source.retained({})).toBe(0);
    // A repair's and a re-check's wait for writes that landed: their tags.
    expect(await source.showsWrites(['w-1'])).toBe(true);
    expect(await source.showsWrites(['w-2'])).toBe(false);
  } finally {
    await source.close();
  }
});

it("tells an orchestrator without the runbook's indexes from one with them", async () => {
  const url = await freshDatabaseUrl();
  const db = new pg.Pool({ connectionString: url, max: 1 });
  try {
    await generateJarvisMemoryFixture({ records: 200, differences: 0, jsonPath: join(dir, 'jm-2.json'), orchestrator: db });
    // The fixture's tables have them, as the simulator's do: taken away, as a real orchestrator's schema is without them.
    await db.query('DROP INDEX memshift_sessions_legacy_session, memshift_sessions_legacy_user, memshift_write_tags');
    const unindexed = async () => {
      const source = openOrchestratorSource('jarvis-memory', url);
      try {
        return await source.unindexed();
      } finally {
        await source.close();
      }
    };
    expect(await unindexed()).toEqual(['a range of legacy keys (sessions)', "memshift's write tags (memory_tags)"]);
    for (const statement of statements(runbookSql()[1])) await db.query(statement);
    expect(await unindexed()).toEqual([]);
  } finally {
    await db.end();
  }
});
