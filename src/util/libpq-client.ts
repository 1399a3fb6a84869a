/**
 * A node-postgres client that connects as libpq would where node-postgres does not: TLS where the server offers it
 * (sslmode prefer, libpq's default: prefer-tls.ts), and the first host of a list whose session is what
 * target_session_attrs asks (host-list.ts), as a Patroni cluster without a virtual IP is reached: a failover then moves
 * new connections to the new primary, as psql's.
 */
import pg from 'pg';
import type { Candidate, SessionAttrs } from './host-list.js';
import { takesTls } from './prefer-tls.js';

export interface LibpqChoices {
  preferTls: boolean;
  /** Hosts to choose from, in order; undefined: the configured host. */
  hosts?: Candidate[];
  attrs: SessionAttrs;
  /** The URL's connect_timeout, which bounds each host of a list as libpq's does (the connection's own bound, the whole). */
  hostTimeoutMs?: number;
}

export type LibpqClientConfig = pg.ClientConfig & { libpq: LibpqChoices };

const ASK_MS = 10_000;
/** Per host list, the host last chosen: asked first next time (libpq asks in order; a dead first host would cost every connection its timeout). */
const lastChosen = new Map<string, Candidate>();

const label = (c: Candidate) => `${c.host}:${c.port}`;

/** Whether a session's `standby` and `readOnly` are what `attrs` asks. */
function fits(attrs: SessionAttrs, s: { standby: boolean; readOnly: boolean }): boolean {
  if (attrs === 'read-write') return !s.readOnly;
  if (attrs === 'read-only') return s.readOnly;
  if (attrs === 'primary') return !s.standby;
  if (attrs === 'standby' || attrs === 'prefer-standby') return s.standby;
  return true;
}

/** The first host (the last chosen first) whose session fits; prefer-standby takes any host when no standby answers. */
async function choose(config: LibpqClientConfig): Promise<Candidate> {
  const { hosts = [{ host: config.host!, port: config.port! }], attrs } = config.libpq;
  const key = hosts.map(label).join(',');
  const last = lastChosen.get(key);
  const order = last ? [last, ...hosts.filter((h) => label(h) !== label(last))] : hosts;
  const outcomes: string[] = [];
  const sessions = new Map<string, { standby: boolean; readOnly: boolean }>();
  for (const c of order) {
    const probe = new LibpqClient({
      ...config,
      // node-postgres's pool keeps the password out of its options' enumerable keys.
      password: config.password,
      host: c.host,
      port: c.port,
      libpq: { ...config.libpq, hosts: undefined, attrs: 'any' },
      connectionTimeoutMillis: config.libpq.hostTimeoutMs ?? (config.connectionTimeoutMillis || ASK_MS),
    });
    // A server going away between the probe's steps (a primary stopping for a failover) makes it emit 'error', which
    // unheard would take the process down: its outcome is what connect and query say.
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      const { rows } = await probe.query<{ standby: boolean; ro: string }>(
        `SELECT pg_is_in_recovery() AS standby, current_setting('transaction_read_only') AS ro`,
      );
      const session = { standby: rows[0]!.standby, readOnly: rows[0]!.ro === 'on' };
      sessions.set(label(c), session);
      if (fits(attrs, session)) {
        lastChosen.set(key, c);
        return c;
      }
      outcomes.push(`${label(c)}: ${session.standby ? 'a standby' : session.readOnly ? 'read-only' : 'read-write'}`);
    } catch (err) {
      outcomes.push(`${label(c)}: ${(err as Error).message}`);
    } finally {
      await probe.end().catch(() => undefined);
    }
  }
  const answered = order.find((c) => sessions.has(label(c)));
  if (attrs === 'prefer-standby' && answered) return answered;
  throw new Error(`no PostgreSQL host of ${key} is ${attrs} (target_session_attrs): ${outcomes.join('; ')}`);
}

export class LibpqClient extends pg.Client {
  private readonly libpq: LibpqChoices;

  constructor(private readonly config: LibpqClientConfig) {
    super(config);
    this.libpq = config.libpq;
  }

  override connect(): Promise<pg.Client>;
  override connect(callback: (err: Error) => void): void;
  override connect(callback?: (err: Error) => void): Promise<pg.Client> | void {
    // node-postgres's pool gives up on a connection slower than its connectionTimeoutMillis by destroying its socket,
    // which may happen while the servers are asked here (a frozen server answers nothing): the connection ends then.
    const stream = (this.connection as unknown as { stream: NodeJS.EventEmitter }).stream;
    let onClose = () => {};
    const abandoned = new Promise<void>((_resolve, reject) => {
      onClose = () => reject(new Error('Connection terminated before it was made'));
      stream.once('close', onClose);
    });
    // The client's own bound covers the question asked first (node-postgres's timer starts with its connect): a probe of
    // a list's silent host gives up after the host's connect_timeout, not the question's own ASK_MS.
    const boundMs = this.config.connectionTimeoutMillis || 0;
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<void>((_resolve, reject) => {
      if (boundMs > 0) timer = setTimeout(() => reject(new Error('timeout expired')), boundMs).unref();
    });
    const connected = Promise.race([this.prepare(), abandoned, expired])
      .finally(() => {
        stream.off('close', onClose);
        clearTimeout(timer);
      })
      .then(() => {
        // What is left of the bound, for node-postgres's own timer.
        if (boundMs > 0) (this as unknown as { _connectionTimeoutMillis: number })._connectionTimeoutMillis = Math.max(1, boundMs - (Date.now() - started));
        return super.connect();
      });
    abandoned.catch(() => undefined);
    expired.catch(() => undefined);
    if (!callback) return connected;
    connected.then(() => callback(undefined as unknown as Error), callback);
  }

  /** Before connecting: the host, and whether to ask it for TLS. */
  private async prepare(): Promise<void> {
    if (this.libpq.hosts || this.libpq.attrs !== 'any') {
      const c = await choose(this.config);
      Object.assign(this as { host: string; port: number }, { host: c.host, port: c.port });
    }
    // A Unix socket never takes TLS (nor does libpq ask it to). A server that did not answer fails the connection, as
    // libpq's unanswered SSLRequest does, with why (out of reach, closed, silent).
    if (this.host.startsWith('/') || (this.libpq.preferTls && !(await takesTls(this.host, this.port)))) {
      // No SSLRequest at all, as libpq after the server's N.
      (this as { ssl: boolean }).ssl = false;
      (this.connection as unknown as { ssl: boolean }).ssl = false;
    }
  }
}
