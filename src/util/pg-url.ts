/** memshift's PostgreSQL connections: URLs read as libpq reads them (psql, the orchestrator's Python), settings given after connecting. */
import { hostname } from 'node:os';
import pg from 'pg';
import { parse, toClientConfig } from 'pg-connection-string';
import { hostList } from './host-list.js';
import { LibpqClient, type LibpqChoices } from './libpq-client.js';

/** Server settings for a connection of memshift's: [name, value] pairs (`lock_timeout`, `10000`). */
export type Settings = readonly (readonly [string, string | number])[];

/** libpq's environment, which applies where the URL names none (node-postgres would read PGSSLMODE its own way). */
const LIBPQ_ENV = [
  ['connect_timeout', 'PGCONNECT_TIMEOUT'],
  ['sslmode', 'PGSSLMODE'],
  ['sslrootcert', 'PGSSLROOTCERT'],
  ['target_session_attrs', 'PGTARGETSESSIONATTRS'],
] as const;

const SET_ALL = 'SELECT count(set_config(n, v, false)) FROM unnest($1::text[], $2::text[]) AS t(n, v)';

/** What each pool made here was made from, for pools like it. */
const made = new WeakMap<pg.Pool, { url: string; settings: Settings }>();

/** The name memshift's connections show in pg_stat_activity: the part of memshift, and the replica (host and pid). */
const appName = (part: string): string => `memshift ${part} ${hostname()}:${process.pid}`.slice(0, 63);

/** `url` with `param` set to `value`, in place of any value it had. */
function withParam(url: string, param: string, value: string): string {
  const without = url.replace(new RegExp(`([?&])${param}=[^&]*(&|$)`, 'i'), (_m, sep: string, next: string) => (next ? sep : '')).replace(/[?&]$/, '');
  return `${without}${without.includes('?') ? '&' : '?'}${param}=${encodeURIComponent(value)}`;
}

/**
 * libpq's connect_timeout in ms (seconds, per host; under 2 counts as 2, zero or none as no limit), which node-postgres
 * reads for its native binding only.
 */
function connectTimeoutMs(url: string): number | undefined {
  const seconds = Math.trunc(Number(/[?&]connect_timeout=([^&]*)/i.exec(url)?.[1]));
  return seconds > 0 ? Math.max(2, seconds) * 1000 : undefined;
}

/** The tighter of the URL's connect timeout and memshift's own for the connection (0 or none: no limit). */
function tighter(url: number | undefined, own: number | undefined): { connectionTimeoutMillis?: number } {
  const both = [url, own].filter((ms): ms is number => ms !== undefined && ms > 0);
  return both.length ? { connectionTimeoutMillis: Math.min(...both) } : {};
}

/**
 * Settings for a client of `part` of memshift on `url`, named after it and its replica in pg_stat_activity (where a
 * DBA tells memshift's connections, and each replica's locks, apart) unless the URL names it (`application_name`).
 *
 * TLS as libpq has it: node-postgres 8 reads `sslmode=require` (and prefer, verify-ca) as verify-full, so a URL that
 * psql takes to a managed server whose certificate a private CA signed failed here with "self-signed certificate".
 * Read as libpq reads it, `require` encrypts without checking the certificate (with `sslrootcert`, checks the CA) and
 * `verify-ca` checks the CA but not the name, as the operator asked; `verify-full` checks both; no mode, `prefer` and
 * `allow` take TLS where the server offers it, else plaintext (prefer-tls.ts). A URL that spells its own `uselibpqcompat`
 * or node-postgres's `ssl` is left to it. A list of hosts is tried as libpq tries it, for its target_session_attrs
 * (host-list.ts, libpq-client.ts). A `connect_timeout` (or PGCONNECT_TIMEOUT) bounds each host's connection attempt as
 * libpq's does, where memshift's own bound for the whole connect is no tighter (pgClient, pgPool).
 */
function pgClientConfig(url: string, part: string): pg.ClientConfig & { Client?: typeof pg.Client; libpq?: LibpqChoices } {
  const withEnv = LIBPQ_ENV.reduce((u, [param, env]) => {
    const value = process.env[env];
    return !value || new RegExp(`[?&]${param}=`, 'i').test(u) ? u : withParam(u, param, value);
  }, url);
  const own = /[?&](uselibpqcompat|ssl)=/i.test(withEnv);
  const mode = /[?&]sslmode=([^&]*)/i.exec(withEnv)?.[1]?.toLowerCase();
  // libpq's default is prefer, and allow takes either transport too (libpq asks plaintext first); node-postgres has neither.
  const prefer = !own && (mode === undefined || mode === 'prefer' || mode === 'allow');
  const { url: single, hosts, attrs } = hostList(prefer ? withParam(withEnv, 'sslmode', 'prefer') : withEnv);
  const config = toClientConfig(parse(single, own ? {} : { useLibpqCompat: true }));
  const timeoutMs = connectTimeoutMs(withEnv);
  const libpq: LibpqChoices = { preferTls: prefer, hosts, attrs, ...(hosts && timeoutMs ? { hostTimeoutMs: timeoutMs } : {}) };
  return {
    ...config,
    // A list's hosts each get it (libpq-client.ts); a single host, the whole connect.
    ...(timeoutMs && !hosts ? { connectionTimeoutMillis: timeoutMs } : {}),
    ...(prefer || hosts || attrs !== 'any' ? { Client: LibpqClient, libpq } : {}),
    application_name: config.application_name ?? appName(part),
  };
}

/** A client of `part` of memshift on `url` (see pgClientConfig), with `extra` settings. */
export function pgClient(url: string, part: string, extra: pg.ClientConfig = {}): pg.Client {
  const { Client = pg.Client, ...config } = pgClientConfig(url, part);
  return new Client({ ...config, ...extra, ...tighter(config.connectionTimeoutMillis, extra.connectionTimeoutMillis) });
}

/** A pool's settings with its connect bounded: node-postgres would wait for ever on a server that takes the connection and says nothing. */
export type BoundedPoolConfig = pg.PoolConfig & { connectionTimeoutMillis: number };

/**
 * A pool of `part` on `url` whose every new connection takes `settings` before its first use. Given after connecting, not as
 * startup options: PgBouncer refuses a connection that sends `options` ("unsupported startup parameter"), and told to
 * ignore them it drops them unsaid. A setting the URL's own `options` name is the URL's.
 */
export function pgPool(url: string, part: string, settings: Settings, config: BoundedPoolConfig): pg.Pool {
  const connection = pgClientConfig(url, part);
  const named = new Set([...String(connection.options ?? '').matchAll(/(?:-c\s*|--)([\w.-]+)=/g)].map((m) => m[1]!.replace(/-/g, '_')));
  const mine = settings.filter(([name]) => !named.has(name));
  const [names, values] = [mine.map(([n]) => n), mine.map(([, v]) => String(v))];
  const onConnect = async (client: pg.ClientBase) => void (await client.query(SET_ALL, [names, values]));
  const bound = tighter(connection.connectionTimeoutMillis, config.connectionTimeoutMillis);
  const pool = new pg.Pool({ ...connection, ...config, ...bound, ...(mine.length ? { onConnect } : {}) });
  made.set(pool, { url, settings });
  return pool;
}

/** A pool of `part` on the same database as `base` (made by pgPool), with `base`'s settings and then `settings`. */
export function pgPoolLike(base: pg.Pool, part: string, settings: Settings, config: BoundedPoolConfig): pg.Pool {
  const from = made.get(base);
  if (!from) throw new Error('pgPoolLike: the base pool was not made by pgPool');
  return pgPool(from.url, part, [...from.settings, ...settings], config);
}
