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
import { freePort } from '../../src/util/ports.js';
import { servesDualWrites } from '../support/dual-writes.js';
import { waitUntil } from '../outbox/support.js';
import { freshDatabaseUrl } from '../support/database.js';

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
  await servesDualWrites(pooled, 'pooled-1', {
    extra: { store: { connectionLossMs: 8_000 } },
    // memshift's own settings, given on each connection (to PgBouncer's server connection, here).
    check: async ([proxy]) => {
      const { rows } = await proxy!.store.pool.query<{ tcp_user_timeout: string }>('SHOW tcp_user_timeout');
      expect(rows[0]!.tcp_user_timeout).toBe('8000');
    },
  });
}, 90_000);
