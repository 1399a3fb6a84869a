/** A PostgreSQL URL read as libpq reads it (psql, the orchestrator's own Python), as node-postgres connection settings. */
import type pg from 'pg';
import { parse, toClientConfig } from 'pg-connection-string';

/** libpq's environment, which applies where the URL names none (node-postgres would read PGSSLMODE its own way). */
const LIBPQ_ENV = [
  ['sslmode', 'PGSSLMODE'],
  ['sslrootcert', 'PGSSLROOTCERT'],
] as const;

/**
 * Settings for a pool or client on `url`, with memshift's own startup `options` (`-c name=value ...`).
 *
 * TLS as libpq has it: node-postgres 8 reads `sslmode=require` (and prefer, verify-ca) as verify-full, so a URL that
 * psql takes to a managed server whose certificate a private CA signed failed here with "self-signed certificate".
 * Read as libpq reads it, `require` encrypts without checking the certificate (with `sslrootcert`, checks the CA) and
 * `verify-ca` checks the CA but not the name, as the operator asked; `verify-full` checks both. A URL that spells its
 * own `uselibpqcompat` is left to it.
 *
 * The URL's own `options` (a `search_path`, say) come after memshift's: where both set one, the URL's wins. node-postgres
 * lets a URL's `options` replace the ones given beside it altogether, which dropped the settings that make the server
 * let go of a lost replica's locks.
 */
export function pgSettings(url: string, options?: string): pg.ClientConfig {
  const withEnv = LIBPQ_ENV.reduce((u, [param, env]) => {
    const value = process.env[env];
    if (!value || new RegExp(`[?&]${param}=`, 'i').test(u)) return u;
    return `${u}${u.includes('?') ? '&' : '?'}${param}=${encodeURIComponent(value)}`;
  }, url);
  const own = /[?&]uselibpqcompat=/i.test(withEnv);
  const settings = toClientConfig(parse(withEnv, own ? {} : { useLibpqCompat: true }));
  const startup = [options, settings.options].filter(Boolean).join(' ');
  return { ...settings, ...(startup ? { options: startup } : {}) };
}
