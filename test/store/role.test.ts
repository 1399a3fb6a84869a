/**
 * The runbook's role for memshift's state store (README, "Runbook: real servers", step 1), not a superuser: made by
 * that very SQL, and by its words (CONNECT on the database and CREATE on its schema, nothing else: no TEMP, no
 * ownership), it migrates the tables and serves dual writes with two replicas (key locks, the id map's listener, the
 * outbox).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { freshDatabaseUrl } from '../support/database.js';
import { servesDualWrites } from '../support/dual-writes.js';

const suffix = randomBytes(4).toString('hex');
/** What each test made, dropped after: as the admin on `url`, the database (if any), what the role owns there, the role. */
const made: { url: string; role: string; database?: string }[] = [];

afterAll(async () => {
  for (const m of made)
    await asAdmin(
      m.url,
      m.database ? `DROP DATABASE IF EXISTS ${m.database} WITH (FORCE); DROP ROLE ${m.role}` : `DROP OWNED BY ${m.role}; DROP ROLE ${m.role}`,
    );
});

/** The SQL block of the runbook's step for memshift's own database. */
function runbookSql(): string {
  const readme = readFileSync('README.md', 'utf8');
  const step = readme.slice(readme.indexOf("**PostgreSQL for memshift's state**"), readme.indexOf("2. **The orchestrator's database"));
  const blocks = [...step.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]!);
  expect(blocks).toHaveLength(1);
  return blocks[0]!;
}

async function asAdmin(url: string, sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    for (const statement of sql.split(';').filter((s) => s.trim())) await c.query(statement);
  } finally {
    await c.end();
  }
}

/** Two replicas on `url` dual-write a session, not as a superuser. */
const servesTwo = (url: string, session: string) =>
  servesDualWrites(url, session, {
    replicas: 2,
    check: async ([proxy]) => {
      const { rows } = await proxy!.store.pool.query<{ rolsuper: boolean }>('SELECT rolsuper FROM pg_roles WHERE rolname = current_user');
      expect(rows[0]!.rolsuper).toBe(false);
    },
  });

const as = (base: string, role: string, password: string, database: string): string => {
  const u = new URL(base);
  [u.username, u.password, u.pathname] = [role, password, `/${database}`];
  return u.toString();
};

it("serves with the role and database the runbook's SQL makes", async () => {
  const base = await freshDatabaseUrl();
  const [role, database, password] = [`memshift_${suffix}`, `memshift_${suffix}`, randomBytes(8).toString('hex')];
  made.push({ url: base, role, database });
  const sql = runbookSql()
    .replace(/\bmemshift\b/g, role)
    .replaceAll("'...'", `'${password}'`);
  expect(sql).toMatch(/CREATE ROLE/);
  await asAdmin(base, sql);
  await servesTwo(as(base, role, password, database), 'owner-1');
}, 120_000);

it('serves with CONNECT on the database and CREATE on its schema, nothing else', async () => {
  const base = await freshDatabaseUrl();
  const [role, password] = [`memshift_granted_${suffix}`, randomBytes(8).toString('hex')];
  const database = new URL(base).pathname.slice(1);
  made.push({ url: base, role });
  await asAdmin(
    base,
    `CREATE ROLE ${role} LOGIN PASSWORD '${password}'; REVOKE ALL ON DATABASE ${database} FROM PUBLIC;
     GRANT CONNECT ON DATABASE ${database} TO ${role}; GRANT USAGE, CREATE ON SCHEMA public TO ${role}`,
  );
  await servesTwo(as(base, role, password, database), 'granted-1');
}, 120_000);
