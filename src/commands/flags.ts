/**
 * `memshift flags sync`: makes an Unleash server hold the flags of flags/memshift.json (Admin API).
 * `memshift flags status`: each service's stage as a running proxy sees it, or as the flags say.
 * `memshift flags set|ramp|advance|rollback|kill-switch`: the rollout's controls (flag-controls.ts).
 */
import { parseArgs } from 'node:util';
import type { Command } from './define.js';
import { loadConfig, unleashAdminUrl, unleashScope } from '../config.js';
import { UnleashAdmin } from '../admin/unleash-admin.js';
import { readFlagDefinitions, resolveFlagsFile } from '../flags/definitions.js';
import { unleashUnreached } from '../flags/unleash-reach.js';
import { openFlags, serviceSnapshot } from '../flags/source.js';
import { serviceNames } from '../services/registry.js';
import type { FlagState } from '../flags/stage.js';
import { CONFIG_OPTIONS } from './define.js';
import { CONTROL_USAGE, CONTROLS, runControl } from './flag-controls.js';
import { adminRequest } from './admin-api.js';

const USAGE = `Usage: memshift flags sync   [--file F] [--url URL] [--token T] [--project P] [--environment E] [--keep-state]
       memshift flags status [--proxy URL [--token T]] [--file F] [--url URL]

sync     creates or updates every flag of the definitions file in Unleash (idempotent) and prints
         what it changed. --url is the Unleash URL (default flags.adminUrl, else flags.url), --token an
         admin API token (default $UNLEASH_ADMIN_TOKEN / flags.adminToken). --keep-state leaves
         on/off and rollout percentages as they are in Unleash (definitions only). A flag in
         Unleash's archive is revived (off in every environment, as Unleash revives a flag).
status   with --proxy, asks a running proxy's GET /admin/status (--token: its admin token, default
         $MEMSHIFT_ADMIN_TOKEN); without, evaluates the flags file, or Unleash when --url is given.
${CONTROL_USAGE}
  --config FILE / --set k=v   as for serve`;

export const command: Command = {
  usage: USAGE,
  async run(argv) {
    const [sub, ...rest] = argv;
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        ...CONFIG_OPTIONS,
        file: { type: 'string' },
        url: { type: 'string' },
        token: { type: 'string' },
        project: { type: 'string' },
        environment: { type: 'string' },
        proxy: { type: 'string' },
        'keep-state': { type: 'boolean' },
        percent: { type: 'string' },
        'dry-run': { type: 'boolean' },
      },
    });
    const config = loadConfig({ path: values.config, set: values.set });
    const file = resolveFlagsFile(values.file ?? config.flags.file);
    if (sub === 'sync') {
      const url = values.url ?? unleashAdminUrl(config.flags);
      const token = values.token ?? config.flags.adminToken;
      if (!url || !token) throw new Error('sync needs an Unleash URL (--url or UNLEASH_URL) and an admin token (--token or UNLEASH_ADMIN_TOKEN)');
      const scope = unleashScope(config.flags);
      const changes = await syncFlags({
        file,
        url,
        token,
        project: values.project ?? scope.project,
        environment: values.environment ?? scope.environment,
        keepState: values['keep-state'],
      });
      process.stdout.write(
        changes.length ? `${changes.map((c) => `  ${c}`).join('\n')}\n${changes.length} change(s)\n` : 'Unleash already matches the flags file: no changes\n',
      );
      return 0;
    }
    if ((CONTROLS as readonly string[]).includes(sub ?? '')) {
      process.stdout.write(`${(await runControl(sub!, positionals, values, config)).join('\n')}\n`);
      return 0;
    }
    if (sub === 'status') {
      if (values.proxy) {
        process.stdout.write(`${(await proxyStatusLines(values.proxy, values.token ?? config.admin.token)).join('\n')}\n`);
        return 0;
      }
      // What the proxies read (flags.url, an Edge perhaps). Unreached, Unleash leaves the flags a proxy starting now would
      // serve (the file's): shown as such, not as Unleash's.
      const url = values.url ?? config.flags.url;
      const unreached = url ? await unleashUnreached(url, config.flags.apiToken, 5_000) : undefined;
      const lines = await flagStatusLines({ file, url, apiToken: config.flags.apiToken });
      if (unreached) lines[0] = `Unleash at ${url} not reached (${unreached}): the flags file's flags, which a proxy starting now would serve`;
      process.stdout.write(`${lines.join('\n')}\n`);
      return unreached ? 2 : 0;
    }
    process.stderr.write(`${USAGE}\n`);
    return 2;
  },
};

export interface SyncOptions {
  file: string;
  url: string;
  token: string;
  project?: string;
  environment?: string;
  keepState?: boolean;
}

/** What `flags sync` does; tests and the guard's Unleash share the same client. */
export async function syncFlags(opts: SyncOptions): Promise<string[]> {
  const defs = await readFlagDefinitions(opts.file);
  if (!defs.ok) throw new Error(`flags file ${opts.file}: ${defs.error}`);
  const admin = new UnleashAdmin({ url: opts.url, token: opts.token, project: opts.project, environment: opts.environment });
  return admin.sync(defs.doc.features, { keepState: opts.keepState });
}

const describe = (name: string, s: FlagState, forced?: boolean): string =>
  `${name}=${s.enabled ? (s.rollout !== undefined ? `${s.rollout}%` : 'on') : 'off'}${s.held ? ' (held: not in Unleash)' : ''}${forced !== undefined ? ` (forced ${forced ? 'on' : 'off'} here)` : ''}`;

async function proxyStatusLines(proxyUrl: string, token: string | undefined): Promise<string[]> {
  const body = await adminRequest<{
    flagSource: string;
    services: Record<string, { stage: string; flags: Record<string, FlagState>; overrides: Record<string, boolean>; guard: { state: string } | null }>;
  }>(proxyUrl, token, '/status');
  return [
    `flags from ${body.flagSource} (as the proxy at ${proxyUrl} applies them)`,
    ...Object.entries(body.services).map(
      ([s, v]) =>
        `  ${s.padEnd(18)} ${v.stage.padEnd(12)} guard ${v.guard?.state ?? 'off'}  ${Object.entries(v.flags)
          .map(([n, f]) => describe(n.split('.').pop()!, f, v.overrides[n]))
          .join(' ')}`,
    ),
  ];
}

async function flagStatusLines(opts: { file: string; url?: string; apiToken?: string }): Promise<string[]> {
  const flags = await openFlags({ file: opts.file, url: opts.url, apiToken: opts.apiToken, readyTimeoutMs: 5000 });
  try {
    await flags.answered(5_000);
    const snap = flags.snapshot();
    const missing = flags.undefinedFlags();
    const where = flags.source === 'unleash' ? 'Unleash' : 'the file';
    return [
      `flags from ${flags.source === 'unleash' ? opts.url : opts.file}${snap.killSwitch ? ' (kill switch ON)' : ''}`,
      ...(missing.length
        ? [
            `not defined in ${where}, so off here: ${missing.join(', ')} (never synced, or archived: proxies that served one hold its last definition, ` +
              `memshift status shows it; memshift flags sync --keep-state creates or revives them)`,
          ]
        : []),
      ...serviceNames().map(
        (s) =>
          `  ${s.padEnd(18)} ${serviceSnapshot(snap, s).stage.padEnd(12)} ${Object.entries(serviceSnapshot(snap, s).flags)
            .map(([n, f]) => describe(n.split('.').pop()!, f))
            .join(' ')}`,
      ),
    ];
  } finally {
    await flags.close();
  }
}
