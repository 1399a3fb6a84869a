/**
 * libpq's host lists in a PostgreSQL URL (`postgres://u@h1:5432,h2:5433/db`, or `?host=h1,h2&port=5432,5433`) and its
 * target_session_attrs, which node-postgres lacks: it reads "h1,h2" as one host name, and the authority form not at all.
 */

/** One host of a list. */
export interface Candidate {
  host: string;
  port: number;
}

const SESSION_ATTRS = ['any', 'read-write', 'read-only', 'primary', 'standby', 'prefer-standby'] as const;
export type SessionAttrs = (typeof SESSION_ATTRS)[number];

export interface HostList {
  /** The URL naming its first host alone, for node-postgres to read the rest of. */
  url: string;
  /** Every host, in the URL's order; undefined for a URL naming one. */
  hosts: Candidate[] | undefined;
  attrs: SessionAttrs;
}

const AUTHORITY = /^([a-z]+:\/\/)([^@/?#]*@)?([^/?#]*)(.*)$/i;
const param = (url: string, name: string): string | undefined => {
  const v = new RegExp(`[?&]${name}=([^&#]*)`, 'i').exec(url)?.[1];
  return v === undefined ? undefined : decodeURIComponent(v);
};
/** `host[:port]`, the host perhaps an IPv6 address in brackets. */
const hostPort = (spec: string): [string, string | undefined] => {
  const m = /^\[([^\]]*)\](?::(\d*))?$/.exec(spec) ?? /^([^:]*)(?::(\d*))?$/.exec(spec);
  if (!m) throw new Error(`PostgreSQL URL: cannot read host "${spec}"`);
  return [decodeURIComponent(m[1]!), m[2] || undefined];
};

/** `url`'s hosts (PGTARGETSESSIONATTRS, like PGSSLMODE, is put in the URL by the caller where it names none). */
export function hostList(url: string, env: NodeJS.ProcessEnv = process.env): HostList {
  const attrs = (param(url, 'target_session_attrs') ?? 'any').toLowerCase();
  if (!(SESSION_ATTRS as readonly string[]).includes(attrs))
    throw new Error(`PostgreSQL URL: target_session_attrs "${attrs}" is not one of ${SESSION_ATTRS.join(', ')}`);
  const m = AUTHORITY.exec(url);
  const inAuthority = m && m[3]!.includes(',');
  const hostParam = param(url, 'host');
  const inQuery = !inAuthority && hostParam?.includes(',');
  if (!m || (!inAuthority && !inQuery)) return { url, hosts: undefined, attrs: attrs as SessionAttrs };
  const specs = inAuthority ? m[3]!.split(',').map(hostPort) : hostParam!.split(',').map((h): [string, string | undefined] => [h, undefined]);
  const ports = (param(url, 'port') ?? '').split(',').filter(Boolean);
  if (ports.length > 1 && ports.length !== specs.length) throw new Error(`PostgreSQL URL: ${specs.length} hosts but ${ports.length} ports`);
  const defaultPort = Number(env.PGPORT ?? 5432);
  const hosts = specs.map(([host, port], i) => ({ host, port: Number(port ?? ports[ports.length > 1 ? i : 0] ?? defaultPort) }));
  const first = hosts[0]!;
  const single = inAuthority
    ? `${m[1]}${m[2] ?? ''}${first.host.includes(':') ? `[${first.host}]` : first.host}:${first.port}${m[4]}`
    : url.replace(/([?&])host=[^&#]*/i, `$1host=${encodeURIComponent(first.host)}`).replace(/([?&])port=[^&#]*/i, `$1port=${first.port}`);
  return { url: single, hosts, attrs: attrs as SessionAttrs };
}
