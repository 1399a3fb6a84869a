/**
 * `memshift config check`: validates a configuration and tries each connection it names without serving:
 * the state store, every legacy service and the orchestrator (one request each), Unleash (client and admin
 * tokens), and what reconcile and backfill read (the legacy store files, the orchestrator's database).
 */
import { access, constants } from 'node:fs/promises';
import { dirname } from 'node:path';
import * as zmq from 'zeromq';
import { defineCommand, CONFIG_OPTIONS } from './define.js';
import { loadConfig, newBackendOf, serviceConfigOf, tokenScope, unleashAdminUrl, unleashScope, type Config } from '../config.js';
import { configuredAdmin } from '../admin/unleash-admin.js';
import { legacyStorePath } from '../reconcile/sides.js';
import { serviceNames, serviceOf } from '../services/registry.js';
import { KILL_SWITCH } from '../flags/names.js';
import { resolveFlagsFile } from '../flags/definitions.js';
import { ipv6Option } from '../util/zmq-ipv6.js';
import { failureOf, unleashUnreached } from '../flags/unleash-reach.js';
import { webhookOrigin } from '../guard/events.js';
import { pgClient } from '../util/pg-url.js';
import { heldFileOf } from '../outbox/held-file.js';

/** One check: what was tried, and the answer (undefined: fine) or why not; optional ones only warn. */
interface Check {
  what: string;
  optional?: boolean;
  run(): Promise<string | undefined>;
}

const TIMEOUT_MS = 3000;

export const command = defineCommand(
  `Usage: memshift config check [--config FILE] [--set k=v ...]

Validates the configuration (every key named when wrong) and tries what it points at, without serving:
the state store (store.url: connect, the rights memshift needs), each legacy service and the orchestrator
(one health_check each), Unleash (flags.url with the client token; with flags.adminToken, the admin API),
the guard's webhooks (reached with a HEAD, nothing posted), and for reconcile / backfill the legacy store
files and reconcile.orchestratorDatabaseUrl. Warns when a service whose agent stamps local times has no
timeZone, and when writes held while the store is away would live in memory only (outbox.heldFile).
Prints one line per check; exits 1 when a required one fails.`,
  { ...CONFIG_OPTIONS },
  async ({ values, positionals }) => {
    if (positionals[0] !== 'check') throw new Error('usage: memshift config check [--config FILE] [--set k=v ...]');
    const config = loadConfig({ path: values.config, set: values.set });
    process.stdout.write('configuration: valid\n');
    let failed = 0;
    for (const c of checksOf(config)) {
      const problem = await withTimeout(c.run()).catch(failureOf);
      if (problem && !c.optional) failed++;
      process.stdout.write(`${problem ? (c.optional ? 'warn' : 'FAIL') : 'ok  '}  ${c.what}${problem ? `: ${problem}` : ''}\n`);
    }
    process.stdout.write(failed ? `${failed} required check(s) failed\n` : 'all required checks passed\n');
    return failed ? 1 : 0;
  },
);

/** Why a webhook's server cannot be reached (undefined: it answered, whatever it said). */
async function webhookUnreached(url: string): Promise<string | undefined> {
  try {
    await (await fetch(url, { method: 'HEAD', signal: AbortSignal.timeout(TIMEOUT_MS) })).body?.cancel();
    return undefined;
  } catch (err) {
    return failureOf(err);
  }
}

function checksOf(config: Config): Check[] {
  const services = serviceNames().filter((s) => serviceConfigOf(config, s).enabled);
  const checks: Check[] = [];
  checks.push(
    config.store.url
      ? { what: `state store ${redactUrl(config.store.url)}`, run: () => storeRights(config.store.url!) }
      : { what: `state store: embedded PostgreSQL under ${config.store.dataDir}`, run: async () => undefined },
  );
  const held = heldWritesCheck(config);
  if (held) checks.push(held);
  for (const s of services)
    checks.push({ what: `${s} legacy ${serviceConfigOf(config, s).legacy.endpoint}`, run: () => answers(serviceConfigOf(config, s).legacy.endpoint) });
  for (const s of services.filter((x) => serviceOf(x).localTimes)) {
    const zone = serviceConfigOf(config, s).timeZone;
    checks.push({
      what: `${s} times local to ${zone ?? `memshift's own zone, ${Intl.DateTimeFormat().resolvedOptions().timeZone}`}`,
      optional: true,
      run: async () => (zone ? undefined : `services.${s}.timeZone not set: set it to the zone of the agent's host, unless it is this one`),
    });
  }
  for (const endpoint of new Set(services.map((s) => newBackendOf(config, s).endpoint)))
    checks.push({ what: `orchestrator ${endpoint}`, run: () => answers(endpoint, '{"action": "health_check", "request_id": "req-check000"}') });
  if (config.flags.url) {
    const url = config.flags.url;
    checks.push({ what: `Unleash client API ${url}`, run: () => unleashUnreached(url, config.flags.apiToken, TIMEOUT_MS) });
    const { environment } = unleashScope(config.flags);
    const read = tokenScope(config.flags.apiToken).environment;
    checks.push({
      what: `Unleash environment ${environment} (memshift's changes: guard rollbacks, controls)`,
      run: async () =>
        read && read !== environment
          ? `the client token (flags.apiToken) reads ${read}: the proxies would never see memshift's changes; unset flags.environment or make them agree`
          : undefined,
    });
    const admin = configuredAdmin(config.flags);
    if (admin) {
      checks.push({
        what: `Unleash admin API ${unleashAdminUrl(config.flags)} (guard rollbacks, controls)`,
        optional: true,
        run: async () => ((await admin.feature(KILL_SWITCH)) ? undefined : `no flag ${KILL_SWITCH}: run memshift flags sync`),
      });
    }
  } else {
    const file = resolveFlagsFile(config.flags.file);
    checks.push({ what: `flags file ${file}`, run: () => readable(file) });
  }
  for (const s of services)
    checks.push({
      what: `${s} legacy store for reconcile / backfill ${legacyStorePath(config, s)}`,
      optional: true,
      run: () => readable(legacyStorePath(config, s)),
    });
  // Reached, not posted to (a HEAD: any answer will do): a chat channel gets no test message.
  for (const url of config.guard.webhooks) checks.push({ what: `guard webhook ${webhookOrigin(url)}`, optional: true, run: () => webhookUnreached(url) });
  const orchestratorDb = config.reconcile.orchestratorDatabaseUrl;
  checks.push({
    what: `orchestrator database for reconcile ${orchestratorDb ? redactUrl(orchestratorDb) : '(reconcile.orchestratorDatabaseUrl not set)'}`,
    optional: true,
    run: async () => (orchestratorDb ? canRead(orchestratorDb) : 'not set: reconcile and backfill cannot read the orchestrator'),
  });
  return checks;
}

/**
 * Where writes held while the store is away are kept: with store.url and no outbox.heldFile, in memory only, so a
 * replica killed then loses those it acknowledged; a file set whose directory cannot be written is the same.
 * Nothing is held under whenStoreAway: refuse; the embedded store's default sits in the directory it makes.
 */
function heldWritesCheck(config: Config): Check | undefined {
  if (config.outbox.whenStoreAway === 'refuse') return undefined;
  const file = heldFileOf(config).heldFile;
  if (file === undefined)
    return {
      what: 'writes held while the state store is away: in memory only',
      optional: true,
      run: async () =>
        'outbox.heldFile not set: a replica killed while the store is away loses the writes it held; set it to a file of its own, on a volume that outlives a restart',
    };
  if (config.outbox.heldFile === undefined) return { what: `writes held while the state store is away: kept in ${file}`, run: async () => undefined };
  return {
    what: `writes held while the state store is away: kept in ${file}`,
    optional: true,
    run: () =>
      access(dirname(file), constants.W_OK).then(
        () => undefined,
        () => 'its directory cannot be written here: they would be kept in memory only',
      ),
  };
}

/** memshift creates its tables at start and writes every row: it needs CREATE on the schema and a connection. */
async function storeRights(url: string): Promise<string | undefined> {
  const client = pgClient(url, 'config check', { connectionTimeoutMillis: TIMEOUT_MS });
  await client.connect();
  try {
    const { rows } = await client.query<{ create: boolean }>(`SELECT has_schema_privilege(current_schema(), 'CREATE') AS "create"`);
    return rows[0]?.create
      ? undefined
      : `the role cannot CREATE in schema ${await client.query('SELECT current_schema()').then((r) => r.rows[0].current_schema)}`;
  } finally {
    await client.end();
  }
}

async function canRead(url: string): Promise<string | undefined> {
  const client = pgClient(url, 'config check', { connectionTimeoutMillis: TIMEOUT_MS });
  await client.connect();
  try {
    await client.query('SELECT count(*) FROM memory_entries WHERE false');
    return undefined;
  } finally {
    await client.end();
  }
}

/** One request and any reply: the service is there and speaks (jarvis-memory answers health_check as an unknown action). */
async function answers(endpoint: string, request = '{"action": "health_check"}'): Promise<string | undefined> {
  if (!endpoint.startsWith('tcp://')) {
    const res = await fetch(endpoint, { method: 'POST', body: request, signal: AbortSignal.timeout(TIMEOUT_MS) });
    return res.status < 500 ? undefined : `HTTP ${res.status}`;
  }
  const socket = new zmq.Request({ linger: 0, receiveTimeout: TIMEOUT_MS, sendTimeout: TIMEOUT_MS, ...ipv6Option(endpoint) });
  try {
    socket.connect(endpoint);
    await socket.send(request);
    await socket.receive();
    return undefined;
  } catch {
    return `no reply within ${TIMEOUT_MS} ms`;
  } finally {
    socket.close();
  }
}

const readable = (path: string) =>
  access(path).then(
    () => undefined,
    () => 'not readable here',
  );

const withTimeout = <T>(p: Promise<T>): Promise<T> =>
  Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${TIMEOUT_MS * 2} ms`)), TIMEOUT_MS * 2).unref())]);

/** A URL with its password hidden. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(not a URL)';
  }
}
