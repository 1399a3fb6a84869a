/**
 * A small client of Unleash's Admin API (v7): read a flag, turn it on or off, set a rollout, and make
 * Unleash hold the flags of a definitions file (`memshift flags sync`). The guard uses the same calls.
 */
import type { FeatureDefinition } from '../flags/definitions.js';
import { unleashAdminUrl, unleashScope, type Config } from '../config.js';

export interface UnleashAdminOptions {
  /** The server's base URL, or its client API URL (…/api/): either works. */
  url: string;
  /** An admin API token (e.g. "*:*.secret"). */
  token: string;
  project?: string;
  environment?: string;
  timeoutMs?: number;
}

interface AdminStrategy {
  id: string;
  name: string;
  parameters?: Record<string, string>;
  constraints?: unknown[];
}

interface AdminFeature {
  name: string;
  type?: string;
  description?: string | null;
  impressionData?: boolean;
  environments: Array<{ name: string; enabled: boolean; strategies?: AdminStrategy[] }>;
}

class UnleashAdminError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** The server's root: admin paths hang off it, the client API URL ends in /api/. */
/** The Admin API client of memshift's own changes, as configured; undefined without an Unleash URL or an admin token. */
export function configuredAdmin(flags: Config['flags']): UnleashAdmin | undefined {
  const url = unleashAdminUrl(flags);
  return url && flags.adminToken ? new UnleashAdmin({ url, token: flags.adminToken, ...unleashScope(flags) }) : undefined;
}

export const unleashServerBase = (url: string): string => url.replace(/\/+$/, '').replace(/\/api$/, '');

export class UnleashAdmin {
  private readonly base: string;
  readonly project: string;
  readonly environment: string;

  constructor(private readonly opts: UnleashAdminOptions) {
    this.base = unleashServerBase(opts.url);
    this.project = opts.project ?? 'default';
    this.environment = opts.environment ?? 'development';
  }

  /** The flag as Unleash holds it, or undefined when it does not exist. */
  async feature(name: string): Promise<AdminFeature | undefined> {
    return this.request<AdminFeature>('GET', this.featurePath(name), undefined, true);
  }

  async setEnabled(name: string, enabled: boolean): Promise<void> {
    await this.request('POST', `${this.envPath(name)}/${enabled ? 'on' : 'off'}`).catch((err: unknown) => {
      throw err instanceof UnleashAdminError && err.status === 404 ? this.missing(name) : err;
    });
  }

  /** Sets the percentage of the flag's flexibleRollout strategy in this environment. */
  async setRollout(name: string, rollout: number): Promise<void> {
    const strategy = (await this.envOf(name))?.strategies?.find((s) => s.name === 'flexibleRollout');
    if (!strategy) throw new UnleashAdminError(`${name} has no flexibleRollout strategy in ${this.environment}`);
    await this.putStrategy(name, strategy.id, { ...strategy, parameters: { ...strategy.parameters, rollout: String(rollout) } });
  }

  /**
   * Makes Unleash hold `features` as the file defines them: creates missing flags, updates descriptions,
   * strategies and (unless keepState) on/off and rollout percentages. Returns what it changed; nothing when
   * Unleash already matches.
   */
  async sync(features: FeatureDefinition[], opts: { keepState?: boolean } = {}): Promise<string[]> {
    const changes: string[] = [];
    for (const f of features) {
      let current = await this.feature(f.name);
      if (!current) {
        changes.push(await this.create(f));
        current = (await this.feature(f.name))!;
      } else {
        const patch = [
          ...((current.description ?? '') !== (f.description ?? '') ? [{ op: 'replace', path: '/description', value: f.description ?? '' }] : []),
          ...(f.type && current.type !== f.type ? [{ op: 'replace', path: '/type', value: f.type }] : []),
        ];
        if (patch.length) {
          await this.request('PATCH', this.featurePath(f.name), patch);
          changes.push(`${f.name}: ${patch.map((p) => p.path.slice(1)).join(', ')} updated`);
        }
      }
      const env = current.environments.find((e) => e.name === this.environment);
      if (!env) throw new UnleashAdminError(`project ${this.project} has no environment ${this.environment}`);
      changes.push(...(await this.syncStrategies(f, env.strategies ?? [], opts.keepState ?? false)));
      if (!opts.keepState && env.enabled !== f.enabled) {
        await this.setEnabled(f.name, f.enabled);
        changes.push(`${f.name}: turned ${f.enabled ? 'on' : 'off'}`);
      }
    }
    return changes;
  }

  /** Creates the flag, or revives it where Unleash has it archived (which refuses the name to a new flag). */
  private async create(f: FeatureDefinition): Promise<string> {
    try {
      await this.request('POST', `/api/admin/projects/${enc(this.project)}/features`, {
        name: f.name,
        type: f.type ?? 'release',
        description: f.description ?? '',
        impressionData: f.impressionData ?? false,
      });
      return `${f.name}: created`;
    } catch (err) {
      if (!(err instanceof UnleashAdminError && err.status === 409 && /archived/i.test(err.message))) throw err;
      await this.request('POST', `/api/admin/projects/${enc(this.project)}/revive`, { features: [f.name] });
      return `${f.name}: revived from Unleash's archive (off in every environment, as Unleash revives a flag)`;
    }
  }

  private async syncStrategies(f: FeatureDefinition, existing: AdminStrategy[], keepState: boolean): Promise<string[]> {
    const changes: string[] = [];
    const unmatched = [...existing];
    for (const want of f.strategies ?? []) {
      const body = { name: want.name, parameters: stringParams(want.parameters), constraints: want.constraints ?? [] };
      const i = unmatched.findIndex((s) => s.name === want.name);
      if (i < 0) {
        await this.request('POST', `${this.envPath(f.name)}/strategies`, body);
        changes.push(`${f.name}: strategy ${want.name} added`);
        continue;
      }
      const [have] = unmatched.splice(i, 1) as [AdminStrategy];
      // With keepState, the percentage operators ramp in Unleash stays as they set it.
      if (keepState && have.parameters?.rollout !== undefined) body.parameters.rollout = have.parameters.rollout;
      if (!sameStrategy(have, body)) {
        await this.putStrategy(f.name, have.id, body);
        changes.push(`${f.name}: strategy ${want.name} updated`);
      }
    }
    for (const extra of unmatched) {
      await this.request('DELETE', `${this.envPath(f.name)}/strategies/${enc(extra.id)}`);
      changes.push(`${f.name}: strategy ${extra.name} removed`);
    }
    return changes;
  }

  private async envOf(name: string) {
    const f = await this.feature(name);
    if (!f) throw this.missing(name);
    return f.environments.find((e) => e.name === this.environment);
  }

  /** A flag Unleash does not hold: never synced, or archived (memshift's proxies hold an archived one at its last definition). */
  private missing(name: string): UnleashAdminError {
    return new UnleashAdminError(
      `no flag ${name} in Unleash project ${this.project} (never synced, or archived: memshift flags sync --keep-state creates or revives it)`,
      404,
    );
  }

  private putStrategy(name: string, id: string, s: { name: string; parameters?: Record<string, string>; constraints?: unknown[] }) {
    return this.request('PUT', `${this.envPath(name)}/strategies/${enc(id)}`, {
      name: s.name,
      parameters: s.parameters ?? {},
      constraints: s.constraints ?? [],
    });
  }

  private featurePath(name: string): string {
    return `/api/admin/projects/${enc(this.project)}/features/${enc(name)}`;
  }

  private envPath(name: string): string {
    return `${this.featurePath(name)}/environments/${enc(this.environment)}`;
  }

  private async request<T = unknown>(method: string, path: string, body?: unknown, missingOk = false): Promise<T | undefined> {
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        method,
        headers: { authorization: this.opts.token, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
      });
    } catch (err) {
      throw new UnleashAdminError(`Unleash ${method} ${path}: ${(err as Error).message}`);
    }
    const text = await res.text();
    if (missingOk && res.status === 404) {
      // Unleash says what it did not find; a 404 without its words is a server with no Admin API (an Edge, a proxy).
      if (/"NotFoundError"/.test(text)) return undefined;
      throw new UnleashAdminError(
        `${this.base} has no Unleash Admin API (HTTP 404 to ${method} ${path}): an Unleash Edge or proxy? flags.adminUrl names the Unleash server`,
        404,
      );
    }
    if (!res.ok) throw new UnleashAdminError(`Unleash ${method} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`, res.status);
    return text ? (JSON.parse(text) as T) : undefined;
  }
}

const enc = encodeURIComponent;

/** Unleash keeps strategy parameters as strings. */
const stringParams = (p: Record<string, unknown> | undefined): Record<string, string> =>
  Object.fromEntries(Object.entries(p ?? {}).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));

function sameStrategy(have: AdminStrategy, want: { parameters: Record<string, string>; constraints: unknown[] }): boolean {
  const params = have.parameters ?? {};
  const keys = new Set([...Object.keys(params), ...Object.keys(want.parameters)]);
  return (
    [...keys].every((k) => String(params[k] ?? '') === String(want.parameters[k] ?? '')) &&
    JSON.stringify(have.constraints ?? []) === JSON.stringify(want.constraints)
  );
}
