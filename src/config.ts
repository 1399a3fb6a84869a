/**
 * Loads config/memshift.yaml (or --config), applies --set and environment overrides, and validates
 * it, failing with messages that name the bad key.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { SERVICE_NAMES, SERVICES, frontPortFor, ORCHESTRATOR_PORT, type ServiceName } from './services/catalog.js';

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
  });

const servicesSchema = z.strictObject(
  Object.fromEntries(SERVICE_NAMES.map((n) => [n, serviceSchema(n).prefault({})])) as {
    [K in ServiceName]: z.ZodDefault<ReturnType<typeof serviceSchema>>;
  },
);

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
  log: z.strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') }).prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type ServiceConfig = Config['services'][ServiceName];

export class ConfigError extends Error {}

/** Environment variables that override config keys. */
const ENV_OVERRIDES: Record<string, string> = {
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
  const sets = [
    ...Object.entries(ENV_OVERRIDES).flatMap(([v, key]) => (env[v] !== undefined ? [`${key}=${env[v]}`] : [])),
    ...(opts.set ?? []),
  ];
  for (const s of sets) applySet(raw as Record<string, unknown>, s);
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
  const keys = assignment.slice(0, eq).split('.');
  let node = target;
  for (const k of keys.slice(0, -1)) {
    if (typeof node[k] !== 'object' || node[k] === null) node[k] = {};
    node = node[k] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]!] = parseYaml(assignment.slice(eq + 1));
}

/** The new-side backend of a service: its own override or the shared orchestrator. */
export const newBackendOf = (cfg: Config, s: ServiceName) => cfg.services[s].new ?? cfg.orchestrator;
