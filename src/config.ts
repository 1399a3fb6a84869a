/**
 * Loads config/memshift.yaml (or --config), applies --set and environment overrides, and validates
 * it, failing with messages that name the bad key.
 *
 * Over 300 lines: the one schema of memshift.yaml, documented key by key; loading it is the last 60.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { serviceOf, serviceNames, frontPortFor, ORCHESTRATOR_PORT, type ServiceName } from './services/registry.js';
import { comparisonOverridesSchema } from './comparison/rules.js';
import type { Side } from './comparison/observation.js';
import { HEALTH_CHECK } from './services/health-check.js';

const DEFAULT_CONFIG_PATH = fileURLToPath(new URL('../config/memshift.yaml', import.meta.url));

const endpoint = z.string().regex(/^(tcp|ipc|inproc):\/\/.+|^https?:\/\/.+/, 'must be tcp://host:port, ipc://path or http(s)://url');

const backendSchema = z.strictObject({
  endpoint,
  timeoutMs: z.number().int().positive().default(2000),
  /**
   * Calls sent and unanswered (timed-out ones included: a hung backend still holds them) beyond which no
   * more are sent: secondary writes wait in the outbox, reads fall back to legacy at once. Above the number of
   * agents a backend serves at once, so a healthy one never meets it.
   */
  maxInFlight: z.number().int().positive().default(1024),
  /**
   * ZeroMQ: a connection whose peer answers none of the heartbeats (a ping a second) for this long is given up and
   * dialed again: the backend's host lost, or a network cut left the connection stale (TCP alone would retransmit
   * into it for a quarter of an hour while every call timed out).
   */
  heartbeatTimeoutMs: z.number().int().min(1_000).default(5_000),
});

const serviceSchema = (name: ServiceName) =>
  z.strictObject({
    enabled: z.boolean().default(true),
    front: endpoint.default(`tcp://[::]:${frontPortFor(name)}`),
    legacy: backendSchema.prefault({ endpoint: `tcp://127.0.0.1:${serviceOf(name).legacyPort}` }),
    /** Defaults to the shared orchestrator. */
    new: backendSchema.optional(),
    /**
     * faithful: replies rebuilt from the orchestrator are the handler's own; as-deployed: reshaped as the
     * service's deployed loop sends them (contextual-memory's error for every bare value, PROTOCOLS.md 1.2).
     * Set it to what the legacy service in front of which memshift runs really answers.
     */
    replies: z.enum(['faithful', 'as-deployed']).default('faithful'),
    /**
     * The time zone (IANA name, e.g. Asia/Manila) of the legacy service's host. Its agent stamps local times
     * there (session-memory's ISO-8601 timestamps), and memshift stamps the records it writes for it alike; left
     * out, memshift's own zone (TZ) is taken, which in a container is UTC whatever the agents' host keeps.
     */
    timeZone: z
      .string()
      .refine((zone) => {
        try {
          new Intl.DateTimeFormat('en-US', { timeZone: zone });
          return true;
        } catch {
          return false;
        }
      }, 'must be an IANA time zone name, e.g. Asia/Manila or UTC')
      .optional(),
    /** When a write reply means the write happened; defaults per service in src/services/catalog.ts. */
    writeSuccess: z
      .array(
        z.strictObject({
          path: z.string(),
          equals: z.union([z.string(), z.number(), z.boolean(), z.null()]).optional(),
          matches: z.string().optional(),
        }),
      )
      .optional(),
  });

type ServiceConfig = z.infer<ReturnType<typeof serviceSchema>>;

/** One key per registered service (src/services/registry.ts), read when config is parsed. */
const servicesSchema = () =>
  z.strictObject(
    Object.fromEntries(serviceNames().map((name) => [name, serviceSchema(name).prefault({})])) as Record<
      ServiceName,
      z.ZodPrefault<ReturnType<typeof serviceSchema>>
    >,
  );

/** The registered services' names as a config value may name them. */
const serviceNameSchema = () => z.enum(serviceNames() as [ServiceName, ...ServiceName[]]);

/** A guard threshold, acted on only once the window holds `minSamples`. */
const guardRule = (threshold: number, minSamples: number) =>
  z.strictObject({ threshold: z.number().nonnegative().default(threshold), minSamples: z.number().int().positive().default(minSamples) }).prefault({});

// Built when config is parsed, so services registered before then get their keys.
const configSchema = () =>
  z.strictObject({
    http: z
      .strictObject({
        host: z.string().default('::'),
        port: z.number().int().min(0).max(65535).default(8080),
        bodyLimitBytes: z
          .number()
          .int()
          .positive()
          .default(1024 * 1024),
      })
      .prefault({}),
    /**
     * On SIGTERM readiness turns false and the fronts keep answering for drainMs (while the Service's endpoints
     * and the agents move away), then requests in hand are answered and outbox claims handed back before exit.
     * SIGINT, or a second signal, skips the window.
     */
    shutdown: z.strictObject({ drainMs: z.number().int().nonnegative().default(0) }).prefault({}),
    zmq: z
      .strictObject({
        /** Frames above this get an error reply in the service's own shape. */
        maxFrameBytes: z
          .number()
          .int()
          .positive()
          .default(1024 * 1024),
      })
      .prefault({}),
    // Agents reach the orchestrator only at cutover and later: a smaller bound, so its barriers stay short.
    orchestrator: backendSchema.prefault({ endpoint: `tcp://127.0.0.1:${ORCHESTRATOR_PORT}`, maxInFlight: 256 }),
    breaker: z
      .strictObject({
        failureThreshold: z.number().int().positive().default(5),
        openMs: z.number().int().positive().default(2000),
      })
      .prefault({}),
    services: servicesSchema().prefault({}),
    /** Per service and action overrides of the comparison rules (src/comparison/rules.ts has the defaults). */
    comparison: comparisonOverridesSchema(serviceNameSchema()).optional(),
    /** How shadowed reads are judged, on every route. */
    shadow: z
      .strictObject({
        /**
         * Times (ISO-8601 strings, epoch-second floats) this close count as equal: each side stamps its own. Unbounded
         * at new-primary, where legacy stamps each write when it reaches it (src/plan/wiring.ts).
         */
        timeToleranceS: z.number().nonnegative().default(1),
        /**
         * A read whose legacy reply is larger is not compared, and its key's reads are not shadowed for a
         * while (src/plan/large-replies.ts): comparing a reply of megabytes holds every agent's request on this replica
         * for as long as it takes. Counted as not compared (too large). 0: no bound.
         */
        maxCompareBytes: z.number().int().nonnegative().default(1_048_576),
        /** Deferred re-checks of reads skipped for a write in flight (src/plan/rechecks.ts). */
        recheck: z
          .strictObject({
            enabled: z.boolean().default(true),
            maxDelayMs: z.number().int().positive().default(10_000),
            maxPending: z.number().int().positive().default(10_000),
            concurrency: z.number().int().positive().default(8),
          })
          .prefault({}),
        /** The A/A noise baseline (src/comparison/noise.ts). */
        baseline: z
          .strictObject({
            share: z.number().min(0).max(1).default(0.02),
            minReads: z.number().int().nonnegative().default(20),
            explains: z.number().positive().max(1).default(0.5),
          })
          .prefault({}),
      })
      .prefault({}),
    store: z
      .strictObject({
        /** PostgreSQL URL; without one, an embedded PostgreSQL under dataDir. */
        url: z.string().optional(),
        dataDir: z.string().default('.memshift/pg'),
        sampleCapPerRoute: z.number().int().positive().default(50),
        /**
         * How long a replica waits for another's turn on a key lock (the contextual snapshot) before failing the
         * request unsent (waiters queue in PostgreSQL: replicas take turns).
         */
        keyLockWaitMs: z.number().int().positive().default(10_000),
        /**
         * How long after a replica lost a key lock connection (the store crashed or restarted: every replica's went)
         * the keys it takes wait before their work, so that work another replica had under way on a key when its lock
         * went (a contextual snapshot read, then written) finishes first; 0: not waited for.
         */
        keyLockLossGraceMs: z.number().int().min(0).default(4_000),
        /**
         * How soon the store's server closes a connection of memshift's that went silent (its host lost, the network
         * cut) and lets go of its locks, so that a lost replica does not hold its keys for the operating system's
         * two-hour keepalive.
         */
        connectionLossMs: z.number().int().min(2_000).default(10_000),
        /**
         * A statement on the store's pool unanswered this long gives its connection up (a store lost with its host
         * leaves connections that nothing closes); migrations are exempt.
         */
        statementTimeoutMs: z.number().int().min(1_000).default(60_000),
        /**
         * How mismatch samples and reconciliation differences keep users' values: `redacted` (type, size and a
         * keyed hash, as the report shows them) or `full`, deleted after fullValuesRetentionHours.
         */
        valuesAtRest: z.enum(['redacted', 'full']).default('redacted'),
        fullValuesRetentionHours: z.number().positive().default(24),
        /**
         * Whole UTC days the per-minute figures (comparison counts, tallies, unknown outcomes) and finished
         * reconciliation runs' differences are kept, today aside; the days' reports, the runs' totals and the guard's
         * events stay. A day's report can be written again only while its figures are kept.
         */
        retainDays: z.number().int().min(1).default(35),
        /** Key of the hashes in redacted values (env MEMSHIFT_REDACTION_KEY); without one, a key drawn per process. */
        redactionKey: z.string().min(16).optional(),
      })
      .prefault({}),
    /** Durable secondary writes (src/outbox/outbox.ts); every duration in ms. */
    outbox: z
      .strictObject({
        /** Store an intent before the agent is answered; false keeps only the in-memory per-key order (no crash safety). */
        enabled: z.boolean().default(true),
        /** How often the worker looks for due writes (other replicas', retries, crashed owners'). */
        pollMs: z.number().int().positive().default(250),
        /** Due writes claimed per poll (at most one per key). */
        batch: z.number().int().positive().default(64),
        /** A claimed write not finished within this is taken over (its owner is presumed dead). */
        leaseMs: z.number().int().positive().default(30_000),
        baseBackoffMs: z.number().int().positive().default(250),
        maxBackoffMs: z.number().int().positive().default(5_000),
        /** Parked as dead after this many attempts or this age, with the last error. */
        maxAttempts: z.number().int().positive().default(100),
        maxAgeMs: z
          .number()
          .int()
          .positive()
          .default(24 * 3_600_000),
        /**
         * Answer agents before the intent's WAL flush. Named for its risk: on, a crash of PostgreSQL itself in the
         * ~200 ms before the flush forgets acknowledged writes (and the outcomes of attempts, so writes may be
         * applied twice). Off (default), every intent and claim is committed synchronously.
         */
        unsafeAsyncCommit: z.boolean().default(false),
        /** The most the agent waits for its intent to be stored; beyond it the store counts as down. */
        intentTimeoutMs: z.number().int().positive().default(500),
        /**
         * A statement on the outbox's connections unanswered this long gives its connection up (a store lost with its
         * host leaves connections nothing closes); what it asked is asked again on a new one.
         */
        statementTimeoutMs: z.number().int().min(1_000).default(30_000),
        /**
         * A write whose intent the store does not take in time: `hold` it in memory and serve it (agents see no error;
         * a key whose writes go through several replicas may get them in another order on the secondary, reported),
         * or `refuse` it unsent, in the agent's protocol (the order holds across replicas; agents see errors meanwhile);
         * `hold-alone` holds while no other replica was live on the store when it last answered (or held its outbox owner
         * lock, as a paused one does), and refuses otherwise.
         */
        whenStoreAway: z.enum(['hold', 'refuse', 'hold-alone']).default('hold-alone'),
        /**
         * A write after a turn whose key still has copies on their way to the side it goes to first, 2 s on (that side
         * failing, or its copies waiting on a hung one): `ahead` makes it there ahead of them (served; the key's order
         * on that side given up, logged), `refuse` answers the agent an error, sending nothing (the order holds; the
         * agent sends it again).
         */
        whenCopiesLate: z.enum(['ahead', 'refuse']).default('refuse'),
        /**
         * About a turn (this replica's, its first turnWatchMs, or while another live replica publishes another stage), a
         * write's answer waits this long at most for its copy to land: a replica that has not yet seen the turn reads
         * first the side the copy goes to, and an agent told of the write would read it back there without it. 0: off.
         */
        turnCopyWaitMs: z.number().int().min(0).default(250),
        /**
         * Whose order a key's dual-writes keep: `replicas` (default) holds the key's lock in the state store, shared by
         * the replicas, from each write's intent to its primary's answer (one round trip more per write), so writes of
         * one key sent to several replicas at once reach the secondary in the primary's order; `replica` keeps it in
         * each process only, enough for one replica or agents routed to replicas by key.
         */
        keyOrder: z.enum(['replicas', 'replica']).default('replicas'),
        /**
         * How often each replica publishes the settings the replicas must share (keyOrder, the legs' maxInFlight) and
         * compares the others' (src/outbox/fleet.ts); a replica that starts binds its fronts once the others have read it
         * (hold-alone), within four of these.
         */
        fleetEveryMs: z.number().int().positive().default(2_000),
        /** Writes held in memory while the store is down; beyond it they are logged with their key, counted, and lost. */
        memoryQueueMax: z.number().int().positive().default(10_000),
        /** The same bound in the requests' bytes: 10,000 writes near zmq.maxFrameBytes would outgrow any pod's memory. */
        memoryQueueMaxBytes: z
          .number()
          .int()
          .positive()
          .default(64 * 1024 * 1024),
        /**
         * A local file where writes held while the store is away are also kept (synced before each is sent), so that a
         * process killed meanwhile loses none: the next start stores them first. One process per file. Default: beside
         * the embedded store (store.dataDir's folder, held-writes.jsonl); with store.url, memory only unless set
         * (a volume of the pod's own, which outlives a container's restart).
         */
        heldFile: z.string().optional(),
        /** Finished writes kept this long for `memshift outbox list`. */
        retainDoneMs: z.number().int().positive().default(3_600_000),
      })
      .prefault({}),
    flags: z
      .strictObject({
        /** Offline flag definitions (Unleash client-features format); default flags/memshift.json. */
        file: z.string().optional(),
        /** A real Unleash server's API URL; without one, flags come from `file`. */
        url: z.string().optional(),
        apiToken: z.string().optional(),
        refreshIntervalMs: z.number().int().positive().default(1000),
        /** Unleash admin API token (env UNLEASH_ADMIN_TOKEN): lets the guard turn flags off in Unleash and `flags sync` write them. */
        adminToken: z.string().optional(),
        /**
         * The Unleash server's API URL for those changes (env UNLEASH_ADMIN_URL), where `url` is an Unleash Edge or proxy
         * that serves the client API only; default `url`.
         */
        adminUrl: z.string().optional(),
        /** Where memshift's own changes go (guard rollbacks, controls, sync); unset: those of apiToken (unleashScope). */
        project: z.string().optional(),
        environment: z.string().optional(),
      })
      .prefault({}),
    /** Automatic rollback (src/guard/guard.ts): per service, sliding windows of these figures against thresholds. */
    guard: z
      .strictObject({
        enabled: z.boolean().default(true),
        bucketMs: z.number().int().positive().default(10_000),
        /** Window = buckets x bucketMs. */
        buckets: z.number().int().positive().default(6),
        /** Share of compared reads that mismatch. */
        mismatchRate: guardRule(0.001, 1000),
        /** Share of new-side calls that fail. */
        errorRate: guardRule(0.01, 200),
        /** New-side p99 minus legacy p99 over compared reads, in ms. */
        addedLatencyMs: guardRule(100, 100),
        /** URLs POSTed each guard event as JSON. */
        webhooks: z.array(z.string().url()).default([]),
        /** Replicas sharing the store guard as one: windows add up every replica's counts, a trip is followed by all. */
        fleet: z.boolean().default(true),
      })
      .prefault({}),
    telemetry: z
      .strictObject({
        serviceName: z.string().default('memshift'),
        /** Distinct mismatch field paths given their own series; the rest count as "(other)". */
        maxMismatchPaths: z.number().int().positive().default(200),
      })
      .prefault({}),
    /** The /admin routes and every flag or fault control need this bearer token (env MEMSHIFT_ADMIN_TOKEN); without one they are off. */
    admin: z.strictObject({ token: z.string().min(1).optional() }).prefault({}),
    /** Reconciliation of the two stores (src/reconcile/): where each side is read, pacing, schedule. */
    reconcile: z
      .strictObject({
        /** The legacy services' data directory, holding their stores under their usual file names. */
        legacyDataDir: z.string().default('.memshift/legacy'),
        /** Per service, a store path that overrides legacyDataDir. */
        legacyFiles: z.partialRecord(serviceNameSchema(), z.string()).default({}),
        /**
         * The text encoding the agents write their JSON stores in: their host's (Python's open() without one, with
         * ensure_ascii off): UTF-8 in containers and most Linux hosts, cp1252 on Windows.
         */
        legacyEncoding: z
          .string()
          .refine((e) => encodingKnown(e), { message: 'must be an encoding TextDecoder knows (utf-8, windows-1252, latin1, ...)' })
          .default('utf-8'),
        /** The orchestrator's PostgreSQL, read directly (env MEMSHIFT_ORCHESTRATOR_DATABASE_URL). */
        orchestratorDatabaseUrl: z.string().optional(),
        /**
         * How long a statement on it may go unanswered (a stopped server, a lost host) or run before the run fails,
         * saying so, and lets go of its service's lock.
         */
        orchestratorStatementTimeoutMs: z.number().int().min(1_000).default(300_000),
        /** Keys per top-level checksum segment; a differing range of at most leafSize keys is compared record by record. */
        segmentSize: z.number().int().positive().default(1_000),
        leafSize: z.number().int().positive().default(64),
        /** Parts a differing range is split into. */
        fanout: z.number().int().min(2).default(16),
        /** Top-level segments between two checkpoints. */
        window: z.number().int().positive().default(256),
        /** Wait before the end-of-run re-check of differences (writes in flight settle). */
        recheckDelayMs: z.number().int().nonnegative().default(1_000),
        /**
         * Seconds two legacy times of one record may differ by: live writes are stamped by each side's clock. Not used
         * where legacy is written second (new-primary, truth new): its times are then not compared (src/reconcile/reconcile.ts).
         */
        timeToleranceS: z.number().nonnegative().default(1),
        /** Throttle: keys checksummed (and repairs) per second on average; 0 = unlimited. */
        keysPerSecond: z.number().nonnegative().default(0),
        /** Differences copied into each run's row for the report. */
        sampleSize: z.number().int().nonnegative().default(20),
        /** A key a repair or the backfill rewrites stays held this long past its holder's last renewal (its live writes wait). */
        holdLeaseMs: z.number().int().positive().default(10_000),
        schedule: z
          .strictObject({
            enabled: z.boolean().default(false),
            everyMinutes: z.number().positive().default(1440),
            /** Default: every enabled service. */
            services: z.array(serviceNameSchema()).optional(),
            repair: z.boolean().default(false),
          })
          .prefault({}),
      })
      .prefault({}),
    /** Copying legacy history into the orchestrator (src/backfill/). */
    backfill: z
      .strictObject({
        /** Legacy keys per batch (one checkpoint per batch). */
        batchSize: z.number().int().positive().default(500),
        /** Records (interactions, memories) written per second on average; 0 = unlimited. */
        recordsPerSecond: z.number().nonnegative().default(1_000),
        /** Keys written at once. */
        concurrency: z.number().int().positive().default(8),
      })
      .prefault({}),
    /** The daily reconciliation report (src/report/): written by the proxy when a UTC day ends, and by `memshift report`. */
    report: z
      .strictObject({
        /** The proxy writes each finished day's report (to the store, and to `dir` when set). */
        enabled: z.boolean().default(true),
        /** Where report files go (YYYY-MM-DD.html|md|json); empty: the store only. */
        dir: z.string().default('.memshift/reports'),
        /** Show memory contents as type, length and a hash instead of the text. */
        redact: z.boolean().default(true),
        /** Verdict thresholds; each unset one takes the guard's. */
        thresholds: z
          .strictObject({
            mismatchRate: z.number().nonnegative().optional(),
            errorRate: z.number().nonnegative().optional(),
            addedLatencyMs: z.number().nonnegative().optional(),
            /** Compared reads a day needs before the verdict can be advance (default: the guard's mismatchRate.minSamples). */
            minComparisons: z.number().int().nonnegative().optional(),
            /** Advancing also needs a clean reconciliation run that day. */
            requireReconcile: z.boolean().default(true),
          })
          .prefault({}),
      })
      .prefault({}),
    log: z.strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') }).prefault({}),
  });

export type Config = z.infer<ReturnType<typeof configSchema>>;

class ConfigError extends Error {}

/** Environment variables that override config keys. */
const ENV_OVERRIDES: Record<string, string> = {
  DATABASE_URL: 'store.url',
  UNLEASH_URL: 'flags.url',
  UNLEASH_API_TOKEN: 'flags.apiToken',
  MEMSHIFT_FLAGS_FILE: 'flags.file',
  MEMSHIFT_HTTP_PORT: 'http.port',
  MEMSHIFT_ORCHESTRATOR_ENDPOINT: 'orchestrator.endpoint',
  MEMSHIFT_LOG_LEVEL: 'log.level',
  UNLEASH_ADMIN_TOKEN: 'flags.adminToken',
  UNLEASH_ADMIN_URL: 'flags.adminUrl',
  MEMSHIFT_ADMIN_TOKEN: 'admin.token',
  MEMSHIFT_REDACTION_KEY: 'store.redactionKey',
  MEMSHIFT_ORCHESTRATOR_DATABASE_URL: 'reconcile.orchestratorDatabaseUrl',
  // A chat tool's incoming webhook URL is its secret (Slack's carries its token in the path): kept with the others.
  MEMSHIFT_GUARD_WEBHOOKS: 'guard.webhooks',
};

/** How an environment value is read where its key wants other than a string: a port, a list (spaces or commas apart). */
const ENV_VALUES: Record<string, (v: string) => unknown> = {
  'http.port': Number,
  'guard.webhooks': (v) => v.split(/[\s,]+/).filter(Boolean),
};

export interface LoadOptions {
  path?: string;
  /** `key.path=value` pairs; values are read as YAML scalars. */
  set?: string[];
  env?: NodeJS.ProcessEnv;
}

/** Whether TextDecoder decodes `encoding`. */
function encodingKnown(encoding: string): boolean {
  try {
    new TextDecoder(encoding);
    return true;
  } catch {
    return false;
  }
}

/** An Unleash client token's project and environment (`project:environment.secret`), if it is one of that form. */
export function tokenScope(token: string | undefined): { project?: string; environment?: string } {
  const m = /^([^:]+):([^.]+)\./.exec(token ?? '');
  if (!m) return {};
  // `*` and `[]` (all projects, several) name no one project.
  return { ...(/^[\w-]+$/.test(m[1]!) ? { project: m[1] } : {}), environment: m[2]! };
}

/**
 * The Unleash project and environment memshift's own changes go to (guard rollbacks, controls, `flags sync`): the
 * config's, else those the proxies' client token reads, else default / development. A production token with the
 * development default sent every guard rollback where no proxy reads it.
 */
export function unleashScope(flags: Config['flags']): { project: string; environment: string } {
  const token = tokenScope(flags.apiToken);
  return { project: flags.project ?? token.project ?? 'default', environment: flags.environment ?? token.environment ?? 'development' };
}

/** Where memshift's own flag changes go: the Unleash server (flags.adminUrl), which an Edge in flags.url does not serve. */
export const unleashAdminUrl = (flags: Config['flags']): string | undefined => flags.adminUrl ?? flags.url;

export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env;
  const path = opts.path ?? env.MEMSHIFT_CONFIG ?? DEFAULT_CONFIG_PATH;
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, 'utf8')) ?? {};
  } catch (err) {
    throw new ConfigError(`cannot read config ${path}: ${(err as Error).message}`);
  }
  const root = raw as Record<string, unknown>;
  // Environment values are taken as strings (a token like "*:dev.x" is not YAML), but where the key wants another type.
  for (const [name, key] of Object.entries(ENV_OVERRIDES)) {
    const v = env[name];
    if (v !== undefined && v !== '') setPath(root, key.split('.'), (ENV_VALUES[key] ?? String)(v));
  }
  for (const s of opts.set ?? []) applySet(root, s);
  return parseConfig(raw, path);
}

export function parseConfig(raw: unknown, source = 'config'): Config {
  const result = configSchema().safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(`invalid ${source}:\n${lines.join('\n')}`);
  }
  return result.data;
}

function applySet(target: Record<string, unknown>, assignment: string): void {
  const eq = assignment.indexOf('=');
  if (eq <= 0) throw new ConfigError(`--set expects key.path=value, got "${assignment}"`);
  setPath(target, assignment.slice(0, eq).split('.'), parseYaml(assignment.slice(eq + 1)));
}

function setPath(target: Record<string, unknown>, keys: string[], value: unknown): void {
  let node = target;
  for (const k of keys.slice(0, -1)) {
    if (typeof node[k] !== 'object' || node[k] === null) node[k] = {};
    node = node[k] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]!] = value;
}

/** A service's section; every registered service has one once config is parsed. */
export function serviceConfigOf(cfg: Config, s: ServiceName): ServiceConfig {
  const section = cfg.services[s];
  if (!section) throw new ConfigError(`no config for service "${s}" (registered after config was loaded?)`);
  return section;
}

/** How replies rebuilt from the orchestrator are shaped for a service: its deployed loop's reshaping, or none. */
export function replyShapeOf(cfg: Config, s: ServiceName): ((reply: unknown) => unknown) | undefined {
  return serviceConfigOf(cfg, s).replies === 'as-deployed' ? serviceOf(s).deployedReply : undefined;
}

/** What a service's translator takes from its config. */
export const translatorOptionsOf = (cfg: Config, s: ServiceName): { timeZone?: string } => {
  const { timeZone } = serviceConfigOf(cfg, s);
  return timeZone ? { timeZone } : {};
};

export const writeSuccessOf = (cfg: Config, s: ServiceName) => serviceConfigOf(cfg, s).writeSuccess ?? serviceOf(s).writeSuccess;

/** The new-side backend of a service: its own override or the shared orchestrator. */
export const newBackendOf = (cfg: Config, s: ServiceName) => serviceConfigOf(cfg, s).new ?? cfg.orchestrator;

/** How a backend of `side` is called, whichever part calls it: its timeout, its connection's heartbeat, the breaker, its probe. */
export const callOptionsOf = (cfg: Config, b: Config['orchestrator'], side: Side) => ({
  timeoutMs: b.timeoutMs,
  heartbeatTimeoutMs: b.heartbeatTimeoutMs,
  breaker: cfg.breaker,
  probe: HEALTH_CHECK[side],
});
