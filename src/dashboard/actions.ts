/**
 * The dashboard's controls: a person's rollout action checked, applied where the flags live (the flags file,
 * or Unleash when flags come from there), logged and stored in operator_actions with who and when.
 */
import type pg from 'pg';
import { z } from 'zod';
import { unleashAdminUrl, type Config } from '../config.js';
import { configuredAdmin } from '../admin/unleash-admin.js';
import { fileTarget, planControl, unleashTarget, type Control, type FlagEdit, type FlagTarget } from '../flags/controls.js';
import { FLAG_KINDS } from '../flags/names.js';
import type { Flags } from '../flags/source.js';
import { serviceNames, type ServiceName } from '../services/registry.js';
import { childLogger } from '../telemetry/log.js';

const log = childLogger('dashboard');

const service = z.string().refine((s): s is ServiceName => (serviceNames() as string[]).includes(s), 'unknown service');
const percent = z.number().int().min(0).max(100);

/** A control as the page sends it. */
export const controlSchema = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('ramp'), service, kind: z.enum(['read-new', 'shadow-read']), percent }),
  z.strictObject({ op: z.literal('advance'), service, percent: percent.optional() }),
  z.strictObject({ op: z.literal('rollback'), service }),
  z.strictObject({ op: z.literal('set'), service, kind: z.enum(FLAG_KINDS), enabled: z.boolean().optional(), rollout: percent.optional() }),
  z.strictObject({ op: z.literal('kill-switch'), on: z.boolean() }),
]);

export interface OperatorAction {
  id: number;
  at: string;
  who: string;
  action: Control;
  target: string;
  edits: FlagEdit[];
  error: string | null;
}

/** Where the proxy's own flags live: the controls act there, so every replica sees them. */
export function flagTargetOf(config: Config, flags: Flags): FlagTarget {
  if (flags.source !== 'unleash') return fileTarget(flags.file);
  const admin = configuredAdmin(config.flags);
  if (!admin) throw new Error('flags come from Unleash and no admin token is configured (flags.adminToken / UNLEASH_ADMIN_TOKEN)');
  return unleashTarget(admin, unleashAdminUrl(config.flags)!, serviceNames());
}

export class OperatorActions {
  constructor(
    private readonly pool: pg.Pool,
    private readonly target: () => FlagTarget,
  ) {}

  /** Plans and applies a control; stored whether it worked or not. Throws with the reason when it did not. */
  async act(control: Control, who: string): Promise<OperatorAction> {
    let edits: FlagEdit[] = [];
    let target = '(none)';
    let error: string | null = null;
    try {
      const t = this.target();
      target = t.name;
      edits = planControl(control, await t.read());
      await t.apply(edits);
    } catch (err) {
      error = (err as Error).message;
    }
    const { rows } = await this.pool.query<{ id: string; at: Date }>(
      `INSERT INTO operator_actions (who, action, target, edits, error) VALUES ($1, $2, $3, $4, $5) RETURNING id, at`,
      [who, JSON.stringify(control), target, JSON.stringify(edits), error],
    );
    const action = { id: Number(rows[0]!.id), at: rows[0]!.at.toISOString(), who, action: control, target, edits, error };
    if (error) {
      log.warn({ who, control, target, error }, 'dashboard control failed');
      throw new Error(error);
    }
    log.info({ who, control, target, edits }, 'dashboard control applied');
    return action;
  }

  /** Newest first. */
  async list(limit = 20): Promise<OperatorAction[]> {
    const { rows } = await this.pool.query<{ id: string; at: Date; who: string; action: Control; target: string; edits: FlagEdit[]; error: string | null }>(
      `SELECT * FROM operator_actions ORDER BY id DESC LIMIT $1`,
      [limit],
    );
    return rows.map((r) => ({ ...r, id: Number(r.id), at: r.at.toISOString() }));
  }
}
