/**
 * `memshift flags set|ramp|advance|rollback|kill-switch`: one rollout control on the flags file, or on Unleash
 * when flags come from there, printing each flag and the stage before and after (`--dry-run` changes nothing).
 */
import { unleashAdminUrl, unleashScope, type Config } from '../config.js';
import { UnleashAdmin } from '../admin/unleash-admin.js';
import { GuardEvents, resumeHow } from '../guard/events.js';
import { resolveFlagsFile } from '../flags/definitions.js';
import { afterEdits, fileTarget, planControl, ROLLBACK_KINDS, unleashTarget, type Control, type FlagTarget } from '../flags/controls.js';
import { FLAG_KINDS, type FlagKind } from '../flags/names.js';
import { deriveStage, type FlagState } from '../flags/stage.js';
import { isServiceName, serviceNames, type ServiceName } from '../services/registry.js';
import { pgPool } from '../util/pg-url.js';

export const CONTROL_USAGE = `       memshift flags set <service> <flag> on|off|<percent>   [--dry-run] [target]
       memshift flags ramp <service> read-new|shadow-read <percent>
       memshift flags advance <service> [--percent N]
       memshift flags rollback <service>
       memshift flags kill-switch on|off

set, ramp, advance (to the next stage: dual-write, shadow 100%, read-new 10%, new-primary, legacy-off),
rollback (reads back to legacy, dual writes kept) and kill-switch act on the flags file (--file, default
flags.file), or on Unleash when flags come from there (--url / UNLEASH_URL, with an admin token: --token /
UNLEASH_ADMIN_TOKEN; --project, --environment). Each prints the flags it changes and the stage, before and
after; --dry-run prints them and changes nothing. With a shared store (store.url, DATABASE_URL) each also names the
services a guard holds rolled back: their proxies apply the flags once a person resumes that guard.`;

export interface ControlOptions {
  file?: string;
  url?: string;
  token?: string;
  project?: string;
  environment?: string;
  percent?: string;
  'dry-run'?: boolean;
}

export const CONTROLS = ['set', 'ramp', 'advance', 'rollback', 'kill-switch'] as const;

export async function runControl(sub: string, args: string[], values: ControlOptions, config: Config): Promise<string[]> {
  const control = parseControl(sub, args, values);
  const target = targetOf(values, config);
  const before = await target.read();
  const edits = planControl(control, before);
  const after = afterEdits(before, edits);
  const services = 'service' in control ? [control.service] : serviceNames();
  const lines = [
    target.name,
    ...edits.map((e) => `  ${e.flag.padEnd(40)} ${shown(before[e.flag])}  ->  ${shown(after[e.flag])}`),
    ...services.map((s) => `  ${`${s} stage`.padEnd(40)} ${deriveStage(s, before)}  ->  ${deriveStage(s, after)}`),
  ];
  const held = await guardHolds(config, services);
  if (!edits.length) return [...lines, ...held, 'nothing to change'];
  if (values['dry-run']) return [...lines, ...held, 'dry run: nothing changed'];
  await target.apply(edits);
  return [...lines, ...held, `${edits.length} flag(s) changed`];
}

/**
 * With a shared store (store.url), a line per service whose guard rollback is in force: running proxies hold its reads
 * on legacy whatever the flags say until a person resumes it, so a stage moved on here would not show there. (The
 * embedded store belongs to the process that started it; this command cannot read it.)
 */
async function guardHolds(config: Config, services: readonly ServiceName[]): Promise<string[]> {
  if (!config.store.url) return [];
  const pool = pgPool(config.store.url, 'flags', [], { max: 1, connectionTimeoutMillis: 5_000, query_timeout: 5_000 });
  pool.on('error', () => undefined);
  try {
    const events = new GuardEvents(pool);
    const inForce = await events.inForceUpTo(await events.lastId());
    return inForce
      .filter((e) => (services as readonly string[]).includes(e.service))
      .map(
        (e) =>
          `  the guard holds ${e.service} back since ${e.at} (rolled back at ${e.stage}): its proxies keep ${ROLLBACK_KINDS.join(', ')} off ` +
          `until a person resumes its guard (${resumeHow(e.service)}), whatever the flags say`,
      );
  } catch (err) {
    // A store no memshift has used yet has no guard_events table, and no rollback.
    if ((err as { code?: string }).code === '42P01') return [];
    return [`  the guard's rollbacks could not be read from the store (${(err as Error).message})`];
  } finally {
    await pool.end();
  }
}

function parseControl(sub: string, args: string[], values: ControlOptions): Control {
  const service = (): ServiceName => {
    const s = args[0];
    if (!s || !isServiceName(s)) throw new Error(`name a service: one of ${serviceNames().join(', ')}`);
    return s;
  };
  const percent = (text: string | undefined): number => {
    const n = Number(text);
    if (text === undefined || text === '' || !Number.isInteger(n) || n < 0 || n > 100)
      throw new Error(`a percentage is a whole number from 0 to 100, not "${text ?? ''}"`);
    return n;
  };
  switch (sub) {
    case 'kill-switch':
      if (args[0] !== 'on' && args[0] !== 'off') throw new Error('kill-switch on|off');
      return { op: 'kill-switch', on: args[0] === 'on' };
    case 'rollback':
      return { op: 'rollback', service: service() };
    case 'advance':
      return { op: 'advance', service: service(), ...(values.percent !== undefined ? { percent: percent(values.percent) } : {}) };
    case 'ramp': {
      const kind = args[1];
      if (kind !== 'read-new' && kind !== 'shadow-read') throw new Error('ramp <service> read-new|shadow-read <percent>');
      return { op: 'ramp', service: service(), kind, percent: percent(args[2]) };
    }
    default: {
      const kind = args[1] as FlagKind;
      if (!FLAG_KINDS.includes(kind)) throw new Error(`set <service> <flag>: the flag is one of ${FLAG_KINDS.join(', ')}`);
      const value = args[2];
      const how = value === 'on' || value === 'off' ? { enabled: value === 'on' } : { enabled: true, rollout: percent(value) };
      return { op: 'set', service: service(), kind, ...how };
    }
  }
}

function targetOf(values: ControlOptions, config: Config): FlagTarget {
  const url = values.url ?? unleashAdminUrl(config.flags);
  if (!url) return fileTarget(resolveFlagsFile(values.file ?? config.flags.file));
  const token = values.token ?? config.flags.adminToken;
  if (!token) throw new Error(`flags come from Unleash (${url}): give an admin token (--token or UNLEASH_ADMIN_TOKEN)`);
  const scope = unleashScope(config.flags);
  const admin = new UnleashAdmin({ url, token, project: values.project ?? scope.project, environment: values.environment ?? scope.environment });
  return unleashTarget(admin, url, serviceNames());
}

const shown = (s: FlagState | undefined): string => (!s ? '(absent)' : !s.enabled ? 'off' : s.rollout === undefined ? 'on' : `on ${s.rollout}%`);
