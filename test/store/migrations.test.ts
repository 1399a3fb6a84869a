/** Store migrations: applied once, in order, by racing replicas too, beside a long transaction. */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openStore } from '../../src/store/db.js';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/store/embedded.js';
import { MIGRATIONS, migrate } from '../../src/store/migrations.js';
import { Schema } from '../../src/store/schema.js';
import { withDeadline } from '../../src/util/deadline.js';
import { tempDataDir, type TempDir } from './helpers.js';

describe('migrations', () => {
  let dir: TempDir;
  let server: EmbeddedPostgresHandle;
  let pool: pg.Pool;

  beforeAll(async () => {
    dir = await tempDataDir();
    server = await startEmbeddedPostgres({ dataDir: dir.dataDir });
    pool = quietPool();
  });

  /**
   * A pool of the test's server. pool.end() does not wait for its sockets: the server stopping right after ends them with
   * an error (57P01) the pool would throw uncaught, failing the run (CI run 272: a migration case's own pool).
   */
  const quietPool = () => new pg.Pool({ connectionString: server.url }).on('error', () => undefined);

  afterAll(async () => {
    await pool?.end();
    await server?.stop();
    await dir?.remove();
  });

  /** As pg_dump does: one transaction reading every table (comparison_counts here), open for the whole dump. */
  const openBackup = async () => {
    const backup = new pg.Client({ connectionString: server.url });
    await backup.connect();
    await backup.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await backup.query('SELECT count(*) FROM comparison_counts');
    return backup;
  };

  const applied = async () => (await pool.query<{ version: number; name: string }>('SELECT version, name FROM schema_migrations ORDER BY version')).rows;

  it('two replicas opening at once migrate once', async () => {
    const stores = await Promise.all([openStore({ url: server.url }), openStore({ url: server.url })]);
    await Promise.all(stores.map((s) => s.close()));
    expect(await applied()).toEqual(MIGRATIONS.map((m, i) => ({ version: i + 1, name: m.name })));
    const tables = await pool.query<{ t: string }>("SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1");
    // Later migrations add tables; the first one's must be there, each once.
    const names = tables.rows.map((r) => r.t);
    expect(names).toEqual(expect.arrayContaining(['comparison_counts', 'id_map', 'mismatch_samples', 'schema_migrations']));
    expect(new Set(names).size).toBe(names.length);
  });

  it('reopening applies nothing', async () => {
    expect(await migrate(pool)).toEqual([]);
    const store = await openStore({ url: server.url });
    await store.close();
    expect((await applied()).length).toBe(MIGRATIONS.length);
  });

  it('a migration appended to the list is the only one applied, once', async () => {
    const next = [...MIGRATIONS, { name: 'probe', sql: 'CREATE TABLE probe (id int)' }];
    const results = await Promise.all([migrate(pool, next), migrate(pool, next), migrate(pool, next)]);
    expect(results.flat()).toEqual([MIGRATIONS.length + 1]);
    expect((await applied()).at(-1)).toEqual({ version: MIGRATIONS.length + 1, name: 'probe' });
  });

  it('a failing migration leaves nothing half-applied', async () => {
    const broken = [
      ...MIGRATIONS,
      { name: 'probe', sql: 'SELECT 1' },
      { name: 'half', sql: 'CREATE TABLE half (id int)' },
      { name: 'bad', sql: 'CREATE TABLE nope (' },
    ];
    await expect(migrate(pool, broken)).rejects.toThrow();
    expect((await applied()).length).toBe(MIGRATIONS.length + 1);
    const half = await pool.query("SELECT to_regclass('half') AS t");
    expect(half.rows[0].t).toBeNull();
  });

  it("a migration waiting for a table a long transaction holds (a backup's) does not hold up the table's writes; it lands once let go", async () => {
    const next = [...MIGRATIONS, { name: 'probe', sql: 'SELECT 1' }, { name: 'wide', sql: 'ALTER TABLE comparison_counts ADD COLUMN probe_col int' }];
    const backup = await openBackup();
    const migrating = migrate(pool, next);
    try {
      const tried = async () =>
        (await pool.query("SELECT 1 FROM pg_stat_activity WHERE query LIKE 'ALTER TABLE comparison_counts%' AND wait_event_type = 'Lock'")).rowCount! > 0;
      await vi.waitFor(async () => expect(await tried()).toBe(true), { timeout: 30_000, interval: 10 });
      // A replica's writes meanwhile: each would wait behind the migration's lock request for as long as the backup runs.
      for (let i = 0; i < 5; i++) {
        const write = pool.query(`INSERT INTO comparison_counts (minute, service, action, outcome, count) VALUES ($1, 'jarvis-memory', 'probe', 'match', 1)`, [
          new Date(Date.UTC(2030, 0, 1, 0, i)),
        ]);
        await expect(withDeadline(write, 30_000, () => new Error('the write still waits after 30 s'))).resolves.toBeDefined();
      }
      expect(await applied()).toHaveLength(MIGRATIONS.length + 1);
    } finally {
      await backup.query('COMMIT');
      await backup.end();
    }
    expect(await migrating).toEqual([MIGRATIONS.length + 2]);
    expect((await pool.query("SELECT 1 FROM information_schema.columns WHERE table_name = 'comparison_counts' AND column_name = 'probe_col'")).rowCount).toBe(
      1,
    );
  });

  it('a proxy starting while its migration waits for a table says so, and starts no second migration beside the first', async () => {
    const next = [
      ...MIGRATIONS,
      { name: 'probe', sql: 'SELECT 1' },
      { name: 'wide', sql: 'SELECT 1' },
      { name: 'wider', sql: 'ALTER TABLE comparison_counts ADD COLUMN probe_col2 int' },
    ];
    const backup = await openBackup();
    // Its own pool: each migration attempt checks a connection out of it.
    const own = quietPool();
    const schema = await Schema.make(own, 'wait', next);
    try {
      // Past the start's bound (5 s) it says why. Its one migration tries again at 0.5, 1, 2, 4 s, then every 5 s: over
      // the next 7 s one or two tries, where a migration started by each of the start's retries (every 2 s) beside it
      // would make six or more, each queuing on the first's lock (over an hour's backup, the pool's every connection).
      expect(schema.pending()?.message).toMatch(/waits for a table another session holds/);
      let tries = 0;
      own.on('acquire', () => tries++);
      await new Promise((r) => setTimeout(r, 7_000));
      expect(tries).toBeLessThanOrEqual(3);
      expect(schema.pending()).toBeDefined();
    } finally {
      await backup.query('COMMIT');
      await backup.end();
    }
    await vi.waitFor(() => expect(schema.pending()).toBeUndefined(), { timeout: 30_000, interval: 50 });
    schema.stop();
    await own.end();
    expect((await applied()).at(-1)).toEqual({ version: MIGRATIONS.length + 3, name: 'wider' });
  });

  it("a statement_timeout the server gives memshift's role or database (a managed server's) cancels no migration", async () => {
    const db = (await pool.query<{ d: string }>('SELECT current_database() AS d')).rows[0]!.d;
    await pool.query(`ALTER DATABASE "${db}" SET statement_timeout = '100ms'`);
    const bounded = quietPool();
    try {
      expect((await bounded.query('SHOW statement_timeout')).rows[0].statement_timeout).toBe('100ms');
      const next = [...MIGRATIONS, ...['probe', 'wide', 'wider'].map((name) => ({ name, sql: 'SELECT 1' })), { name: 'long', sql: 'SELECT pg_sleep(0.5)' }];
      expect(await migrate(bounded, next)).toEqual([MIGRATIONS.length + 4]);
    } finally {
      await bounded.end();
      await pool.query(`ALTER DATABASE "${db}" RESET statement_timeout`);
    }
  });
});
