/**
 * Loads config/memshift.yaml (or --config), applies --set and environment overrides, and validates
 * it, failing with messages that name the bad key.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { SERVICES, frontPortFor, ORCHESTRATOR_PORT, type ServiceName } from './services/catalog.js';
import { comparisonOverridesSchema } from './core/compare-rules.js';

export const DEFAULT_CONFIG_PATH = fileURLToPath(new URL('../config/memshift.yaml', import.meta.url));

const endpoint = z
  .string()
  .regex(/^(tcp|ipc|inproc):\/\/.+|^https?:\/\/.+/, 'must be tcp://host:port, ipc://path or http(s)://url');

const backendSchema = z.strictObject({
  endpoint,
  timeoutMs: z.number().int().positive().default(2000),
});

const serviceSchema = (name: ServiceName) =>
  z.strictObject({
    enabled: z.boolean().default(true),
    front: endpoint.default(`tcp://0.0.0.0:${frontPortFor(name)}`),
    legacy: backendSchema.default({ endpoint: `tcp://127.0.0.1:${SERVICES[name].legacyPort}`, timeoutMs: 2000 }),
    /** Defaults to the shared orchestrator. */
    new: backendSchema.optional(),
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

const servicesSchema = z.strictObject({
  'session-memory': serviceSchema('session-memory').prefault({}),
  'contextual-memory': serviceSchema('contextual-memory').prefault({}),
  'jarvis-memory': serviceSchema('jarvis-memory').prefault({}),
} satisfies Record<ServiceName, unknown>);

export const configSchema = z.strictObject({
  http: z
    .strictObject({
      host: z.string().default('0.0.0.0'),
      port: z.number().int().min(0).max(65535).default(8080),
      bodyLimitBytes: z.number().int().positive().default(1024 * 1024),
    })
    .prefault({}),
  zmq: z
    .strictObject({
      /** Frames above this get an error reply in the service's own shape. */
      maxFrameBytes: z.number().int().positive().default(1024 * 1024),
    })
    .prefault({}),
  orchestrator: backendSchema.prefault({ endpoint: `tcp://127.0.0.1:${ORCHESTRATOR_PORT}` }),
  breaker: z
    .strictObject({
      failureThreshold: z.number().int().positive().default(5),
      openMs: z.number().int().positive().default(2000),
    })
    .prefault({}),
  services: servicesSchema.prefault({}),
  /** Per service and action overrides of the comparison rules (src/core/compare-rules.ts has the defaults). */
  comparison: comparisonOverridesSchema.optional(),
  store: z
    .strictObject({
      /** PostgreSQL URL; without one, an embedded PostgreSQL under dataDir. */
      url: z.string().optional(),
      dataDir: z.string().default('.memshift/pg'),
      sampleCapPerRoute: z.number().int().positive().default(50),
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
    })
    .prefault({}),
  log: z.strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') }).prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type ServiceConfig = Config['services'][ServiceName];

export class ConfigError extends Error {}

/** Environment variables that override config keys. */
const ENV_OVERRIDES: Record<string, string> = {
  DATABASE_URL: 'store.url',
  UNLEASH_URL: 'flags.url',
  UNLEASH_API_TOKEN: 'flags.apiToken',
  MEMSHIFT_FLAGS_FILE: 'flags.file',
  MEMSHIFT_HTTP_PORT: 'http.port',
  MEMSHIFT_ORCHESTRATOR_ENDPOINT: 'orchestrator.endpoint',
  MEMSHIFT_LOG_LEVEL: 'log.level',
};

export interface LoadOptions {
  path?: string;
  /** `key.path=value` pairs; values are read as YAML scalars. */
  set?: string[];
  env?: NodeJS.ProcessEnv;
}

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
  // Environment values are taken as strings (a token like "*:dev.x" is not YAML); numbers where the key wants one.
  for (const [name, key] of Object.entries(ENV_OVERRIDES)) {
    const v = env[name];
    if (v !== undefined && v !== '') setPath(root, key.split('.'), key === 'http.port' ? Number(v) : v);
  }
  for (const s of opts.set ?? []) applySet(root, s);
  return parseConfig(raw, path);
}

export function parseConfig(raw: unknown, source = 'config'): Config {
  const result = configSchema.safeParse(raw);
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

export const writeSuccessOf = (cfg: Config, s: ServiceName) => cfg.services[s].writeSuccess ?? SERVICES[s].writeSuccess;

/** The new-side backend of a service: its own override or the shared orchestrator. */
export const newBackendOf = (cfg: Config, s: ServiceName) => cfg.services[s].new ?? cfg.orchestrator;
