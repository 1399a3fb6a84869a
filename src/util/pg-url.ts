/** memshift's PostgreSQL connections: URLs read as libpq reads them (psql, the orchestrator's Python), settings given after connecting. */
import pg from 'pg';
import { parse, toClientConfig } from 'pg-connection-string';

/** Server settings for a connection of memshift's: [name, value] pairs (`lock_timeout`, `10000`). */
export type Settings = readonly (readonly [string, string | number])[];

/** libpq's environment, which applies where the URL names none (node-postgres would read PGSSLMODE its own way). */
const LIBPQ_ENV = [
  ['sslmode', 'PGSSLMODE'],
  ['sslrootcert', 'PGSSLROOTCERT'],
] as const;

const SET_ALL = 'SELECT count(set_config(n, v, false)) FROM unnest($1::text[], $2::text[]) AS t(n, v)';

/** The settings each pool made here gives its connections, for pools like it. */
const given = new WeakMap<pg.Pool, Settings>();

/**
 * Settings for a client on `url`.
 *
 * TLS as libpq has it: node-postgres 8 reads `sslmode=require` (and prefer, verify-ca) as verify-full, so a URL that
 * psql takes to a managed server whose certificate a private CA signed failed here with "self-signed certificate".
 * Read as libpq reads it, `require` encrypts without checking the certificate (with `sslrootcert`, checks the CA) and
 * `verify-ca` checks the CA but not the name, as the operator asked; `verify-full` checks both. A URL that spells its
 * own `uselibpqcompat` is left to it.
 */
export function pgClientConfig(url: string): pg.ClientConfig {
  const withEnv = LIBPQ_ENV.reduce((u, [param, env]) => {
    const value = process.env[env];
    if (!value || new RegExp(`[?&]${param}=`, 'i').test(u)) return u;
    return `${u}${u.includes('?') ? '&' : '?'}${param}=${encodeURIComponent(value)}`;
  }, url);
  const own = /[?&]uselibpqcompat=/i.test(withEnv);
  return toClientConfig(parse(withEnv, own ? {} : { useLibpqCompat: true }));
}

/**
 * A pool on `url` whose every new connection takes `settings` before its first use. Given after connecting, not as
 * startup options: PgBouncer refuses a connection that sends `options` ("unsupported startup parameter"), and told to
 * ignore them it drops them unsaid. A setting the URL's own `options` name is the URL's.
 */
export function pgPool(url: string, settings: Settings, config: pg.PoolConfig = {}): pg.Pool {
  return poolWith(pgClientConfig(url), settings, config);
}

/** A pool on the same database as `base`, with the settings pgPool gave `base` and then `settings`. */
export function pgPoolLike(base: pg.Pool, settings: Settings, config: pg.PoolConfig = {}): pg.Pool {
  // The password is not enumerable in a pool's options: copied by name.
  return poolWith({ ...base.options, password: base.options.password }, [...(given.get(base) ?? []), ...settings], config);
}

function poolWith(connection: pg.ClientConfig, settings: Settings, config: pg.PoolConfig): pg.Pool {
  const named = new Set([...String(connection.options ?? '').matchAll(/(?:-c\s*|--)([\w.-]+)=/g)].map((m) => m[1]!.replace(/-/g, '_')));
  const mine = settings.filter(([name]) => !named.has(name));
  const [names, values] = [mine.map(([n]) => n), mine.map(([, v]) => String(v))];
  const onConnect = async (client: pg.ClientBase) => void (await client.query(SET_ALL, [names, values]));
  const pool = new pg.Pool({ ...connection, ...config, onConnect: mine.length ? onConnect : undefined });
  given.set(pool, settings);
  return pool;
}
