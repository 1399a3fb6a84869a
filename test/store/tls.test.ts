/**
 * memshift on a PostgreSQL that speaks TLS with a certificate a private CA signed (a managed server's): its URLs read as
 * libpq (psql, the orchestrator's Python) reads them. `sslmode=require` encrypts without checking the certificate,
 * `verify-full` checks it against `sslrootcert`, PGSSLMODE applies where the URL names no mode, no mode (libpq's prefer)
 * takes TLS where the server offers it and plaintext where it does not, and a URL's own `options` keep memshift's
 * settings beside them.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/store/embedded.js';
import { openStore } from '../../src/store/index.js';
import { servesDualWrites } from '../support/dual-writes.js';
import { freshDatabaseUrl } from '../support/database.js';

const dir = mkdtempSync(join(tmpdir(), 'memshift-tls-'));
const file = (name: string) => join(dir, name);
let server: EmbeddedPostgresHandle | undefined;
/** The server's URL without TLS (it takes both): the test's own view. */
let plain = '';

/** A CA, a server certificate it signs for 127.0.0.1, and another CA that signed nothing here. */
function makeCertificates(): void {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const ca of ['ca', 'other-ca'])
    openssl('req', '-x509', ...key, '-keyout', `${ca}.key`, '-out', `${ca}.crt`, '-days', '2', '-subj', `/CN=memshift test ${ca}`);
  openssl('req', ...key, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(file('san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '2',
    '-extfile',
    'san.ext',
  );
  // PostgreSQL wants its key private to the user it runs as: as root, the embedded server runs as `postgres`.
  execFileSync('chmod', ['600', file('server.key')]);
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
    for (const f of ['server.key', 'server.crt']) chownSync(file(f), uid, 0);
  }
}

beforeAll(async () => {
  makeCertificates();
  server = await startEmbeddedPostgres({
    dataDir: file('pg'),
    settings: { ssl: 'on', ssl_cert_file: file('server.crt'), ssl_key_file: file('server.key'), max_connections: '60' },
  });
  plain = server.url;
}, 60_000);

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const withParams = (params: string) => `${plain}?${params}`;

async function onPlain<R extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<R[]> {
  const c = new pg.Client({ connectionString: plain });
  await c.connect();
  try {
    return (await c.query<R>(sql, values)).rows;
  } finally {
    await c.end();
  }
}

/**
 * Every connection to the server but the asker's own: how many, how many without TLS, and the parts of memshift they name.
 * Not those still starting: PostgreSQL 18 shows a backend from its start, and fills in its TLS and application name
 * only once the client is authenticated (a pool's new connection, run 304, counted as one in plaintext).
 */
async function connections(): Promise<{ all: number; clear: number; parts: string[] }> {
  const rows = await onPlain<{ ssl: boolean; application_name: string }>(
    `SELECT s.ssl, a.application_name FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
      WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid() AND a.state IS DISTINCT FROM 'starting'`,
  );
  // Named after the part of memshift and its replica (this process), as a DBA looking at pg_stat_activity sees them.
  const replica = ` ${hostname()}:${process.pid}`;
  const parts = rows.map((r) =>
    r.application_name.startsWith('memshift ') && r.application_name.endsWith(replica) ? r.application_name.slice(9, -replica.length) : r.application_name,
  );
  return { all: rows.length, clear: rows.filter((r) => !r.ssl).length, parts: [...new Set(parts)].sort() };
}

describe('a TLS server with a private CA', () => {
  it('serves dual writes with sslmode=require, as psql takes it: every one of its connections encrypted', async () => {
    await servesDualWrites(withParams('sslmode=require'), 'tls-1', {
      check: async () => {
        const seen = await connections();
        // The store's pool, the outbox's two, the key locks' and the id map's listener at least.
        expect(seen.all).toBeGreaterThanOrEqual(4);
        expect(seen.clear).toBe(0);
        expect(seen.parts).toEqual(expect.arrayContaining(['id map', 'key locks', 'outbox', 'store']));
        expect(
          seen.parts.every((p) => /^[a-z ]+$/.test(p)),
          seen.parts.join(', '),
        ).toBe(true);
      },
    });
  }, 90_000);

  it('checks the certificate with verify-full against sslrootcert, and refuses a CA that did not sign it', async () => {
    const store = await openStore({ url: withParams(`sslmode=verify-full&sslrootcert=${file('ca.crt')}`) });
    try {
      const [r] = (await store.pool.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows;
      expect(r!.ssl).toBe(true);
    } finally {
      await store.close();
    }
    await expect(openStore({ url: withParams(`sslmode=verify-full&sslrootcert=${file('other-ca.crt')}`) })).rejects.toThrow(/certificate/);
    // require with a root certificate checks the CA, as libpq's does.
    await expect(openStore({ url: withParams(`sslmode=require&sslrootcert=${file('other-ca.crt')}`) })).rejects.toThrow(/certificate/);
  }, 60_000);

  it('takes TLS where the URL names no mode or prefer, as psql does (a server requiring it refused them in plaintext)', async () => {
    for (const url of [plain, withParams('sslmode=prefer'), withParams('sslmode=allow')]) {
      const store = await openStore({ url });
      try {
        const [r] = (await store.pool.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows;
        expect(r!.ssl, url).toBe(true);
      } finally {
        await store.close();
      }
    }
  }, 60_000);

  it('takes PGSSLMODE where the URL names no mode', async () => {
    process.env.PGSSLMODE = 'require';
    try {
      const store = await openStore({ url: plain });
      try {
        const [r] = (await store.pool.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows;
        expect(r!.ssl).toBe(true);
      } finally {
        await store.close();
      }
    } finally {
      delete process.env.PGSSLMODE;
    }
  }, 60_000);

  it("keeps memshift's startup settings beside the URL's own options (a schema of its own), the URL's winning where both set one", async () => {
    await onPlain('CREATE SCHEMA IF NOT EXISTS memshift_own');
    const options = encodeURIComponent('-c search_path=memshift_own -c tcp_keepalives_interval=3');
    const store = await openStore({ url: withParams(`sslmode=require&application_name=dba-chosen&options=${options}`), connectionLossMs: 6_000 });
    try {
      const show = async (name: string) => (await store.pool.query<Record<string, string>>(`SHOW ${name}`)).rows[0]![name];
      // memshift's: the server drops a lost replica's connection, and its locks, within connectionLossMs.
      expect(await show('tcp_user_timeout')).toBe('6000');
      // The URL's name for the connection, not memshift's own.
      expect(await show('application_name')).toBe('dba-chosen');
      expect(await show('tcp_keepalives_idle')).toBe('3');
      // Set by both (memshift's 1 s): the URL's.
      expect(await show('tcp_keepalives_interval')).toBe('3');
      const tables = await onPlain<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'memshift_own'`);
      expect(tables.map((t) => t.table_name)).toContain('outbox');
    } finally {
      await store.close();
    }
  }, 60_000);
});

it('goes in plaintext to a server without TLS where the URL names no mode, prefer or allow, as psql does; require refuses', async () => {
  const url = await freshDatabaseUrl();
  for (const params of ['', '?sslmode=prefer', '?sslmode=allow']) {
    const store = await openStore({ url: `${url}${params}` });
    try {
      const [r] = (await store.pool.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows;
      expect(r!.ssl, params).toBe(false);
    } finally {
      await store.close();
    }
  }
  await expect(openStore({ url: `${url}?sslmode=require` })).rejects.toThrow(/does not support SSL/);
}, 60_000);
