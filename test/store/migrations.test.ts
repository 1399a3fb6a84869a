/** Store migrations: applied once, in order, by racing replicas too. */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/db.js';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/store/embedded.js';
import { MIGRATIONS, migrate } from '../../src/store/migrations.js';
import { tempDataDir, type TempDir } from './helpers.js';

describe('migrations', () => {
  let dir: TempDir;
  let server: EmbeddedPostgresHandle;
  let pool: pg.Pool;

  beforeAll(async () => {
    dir = await tempDataDir();
    server = await startEmbeddedPostgres({ dataDir: dir.dataDir });
    pool = new pg.Pool({ connectionString: server.url });
    // pool.end() does not wait for its sockets; the server stopping right after must not fail the run.
    pool.on('error', () => undefined);
  });

  afterAll(async () => {
    await pool?.end();
    await server?.stop();
    await dir?.remove();
  });

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
});
