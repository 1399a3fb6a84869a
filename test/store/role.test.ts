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
import { flagName } from '../../src/flags/names.js';
import { startProxy, type Proxy } from '../../src/proxy.js';
import { TempFlags } from '../flags/helpers.js';
import { newRecords, waitUntil } from '../outbox/support.js';
import { freshDatabaseUrl } from '../support/database.js';
import { configFor, startSims } from '../support/stack.js';
import { ReqClient } from '../support/zmq-client.js';

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

/** Two replicas on `url` dual-write a session; both writes end in the outbox as done and on the orchestrator. */
async function servesDualWrites(url: string, session: string): Promise<void> {
  const sims = await startSims();
  const temp = await TempFlags.create({ [flagName('session-memory', 'dual-write')]: { enabled: true } });
  const flags = await temp.open();
  const proxies: Proxy[] = [];
  try {
    for (let i = 0; i < 2; i++) proxies.push(await startProxy(configFor(sims, url), { flags }));
    for (const [i, request] of [
      { action: 'create_session', session_id: session, user_id: 'ana' },
      { action: 'add_interaction', session_id: session, role: 'user', content: 'least privilege' },
    ].entries()) {
      const agent = new ReqClient(proxies[i]!.fronts['session-memory']!, 10_000);
      try {
        expect(await agent.call(request)).toMatchObject({ status: 'success' });
      } finally {
        agent.close();
      }
    }
    await waitUntil(() => newRecords(sims, session).contents.length === 1, 30_000, 'the orchestrator has the interaction');
    const { rows } = await proxies[0]!.store.pool.query<{ done: number }>(`SELECT count(*)::int AS done FROM outbox WHERE key = $1 AND status = 'done'`, [
      session,
    ]);
    expect(rows[0]!.done).toBe(2);
    const [{ rolsuper }] = (await proxies[0]!.store.pool.query<{ rolsuper: boolean }>('SELECT rolsuper FROM pg_roles WHERE rolname = current_user')).rows as [
      { rolsuper: boolean },
    ];
    expect(rolsuper).toBe(false);
  } finally {
    for (const p of proxies) {
      await p.close();
      await p.store.close();
    }
    await temp.dispose();
    await sims.close();
  }
}

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
  await servesDualWrites(as(base, role, password, database), 'owner-1');
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
  await servesDualWrites(as(base, role, password, database), 'granted-1');
}, 120_000);
