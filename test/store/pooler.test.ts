/**
 * memshift's state store behind a real PgBouncer in session mode, as the runbook allows (step 1): it connects, and
 * dual writes go through intents, key locks, the id map's listener and the outbox's prepared statements there.
 * PgBouncer refuses a connection that sends startup `options`, which memshift's settings once were.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { flagName } from '../../src/flags/names.js';
import { startProxy } from '../../src/proxy.js';
import { freePort } from '../../src/util/ports.js';
import { TempFlags } from '../flags/helpers.js';
import { newRecords, waitUntil } from '../outbox/support.js';
import { freshDatabaseUrl } from '../support/database.js';
import { configFor, startSims } from '../support/stack.js';
import { ReqClient } from '../support/zmq-client.js';

const dir = mkdtempSync(join(tmpdir(), 'memshift-pgbouncer-'));
let bouncer: ChildProcess | undefined;
const output: string[] = [];
/** The fresh database, straight and through PgBouncer. */
let direct = '';
let pooled = '';

beforeAll(async () => {
  direct = await freshDatabaseUrl();
  const server = new URL(direct);
  const port = await freePort();
  // PgBouncer will not run as root: there it runs as `postgres`, which must read its files.
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'users.txt'), `"${server.username}" "${decodeURIComponent(server.password)}"\n`);
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `* = host=${server.hostname} port=${server.port}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = scram-sha-256',
      `auth_file = ${join(dir, 'users.txt')}`,
      'pool_mode = session',
      '',
    ].join('\n'),
  );
  const asRoot = process.getuid?.() === 0 ? ['-u', execFileSync('id', ['-un', 'postgres']).toString().trim()] : [];
  bouncer = spawn('/usr/sbin/pgbouncer', [...asRoot, join(dir, 'pgbouncer.ini')], { stdio: ['ignore', 'pipe', 'pipe'] });
  for (const s of [bouncer.stdout!, bouncer.stderr!]) s.on('data', (d: Buffer) => output.push(d.toString()));
  const url = new URL(direct);
  url.port = String(port);
  pooled = url.toString();
  await waitUntil(
    async () => {
      const c = new pg.Client({ connectionString: pooled });
      return c.connect().then(
        () => c.end().then(() => true),
        () => false,
      );
    },
    20_000,
    'PgBouncer accepting connections',
    async () => output.join(''),
  );
}, 60_000);

afterAll(() => {
  bouncer?.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

it('serves dual writes with its state store behind PgBouncer in session mode, its settings taken', async () => {
  const sims = await startSims();
  const temp = await TempFlags.create({ [flagName('session-memory', 'dual-write')]: { enabled: true } });
  const proxy = await startProxy(configFor(sims, pooled, { store: { connectionLossMs: 8_000 } }), { flags: await temp.open() });
  const agent = new ReqClient(proxy.fronts['session-memory']!, 10_000);
  try {
    expect(await agent.call({ action: 'create_session', session_id: 'pooled-1', user_id: 'ana' })).toMatchObject({ status: 'success' });
    expect(await agent.call({ action: 'add_interaction', session_id: 'pooled-1', role: 'user', content: 'through PgBouncer' })).toMatchObject({
      status: 'success',
    });
    await waitUntil(() => newRecords(sims, 'pooled-1').contents.length === 1, 30_000, 'the orchestrator has the interaction');
    const check = new pg.Client({ connectionString: direct });
    await check.connect();
    try {
      const { rows } = await check.query<{ done: number }>(`SELECT count(*)::int AS done FROM outbox WHERE key = 'pooled-1' AND status = 'done'`);
      // Both writes stored as intents and finished by the outbox: the store answered through PgBouncer throughout.
      expect(rows[0]!.done).toBe(2);
    } finally {
      await check.end();
    }
    // memshift's own settings, given on each connection (to PgBouncer's server connection, here).
    const { rows } = await proxy.store.pool.query<{ tcp_user_timeout: string }>('SHOW tcp_user_timeout');
    expect(rows[0]!.tcp_user_timeout).toBe('8000');
  } finally {
    agent.close();
    await proxy.close();
    await proxy.store.close();
    await temp.dispose();
    await sims.close();
  }
}, 90_000);
