/** Per-target fault settings of the simulators: their shape, defaults, validation and merging. */
import { z } from 'zod';
import { SIM_SERVICES, type SimService } from './services.js';

export type SimTarget = SimService | 'orchestrator';
export const SIM_TARGETS: readonly SimTarget[] = [...SIM_SERVICES, 'orchestrator'];
export const isSimTarget = (s: string): s is SimTarget => (SIM_TARGETS as readonly string[]).includes(s);

type DivergenceMode = 'alter' | 'drop';

export interface Faults {
  latencyMs: number;
  jitterMs: number;
  /** Share of requests answered with the service's error shape without being applied. */
  errorRate: number;
  /** Socket closed: clients cannot reach the service until it is brought up again on the same port. */
  down: boolean;
  /** Share of writes acknowledged normally but stored altered or not at all. */
  divergence: { rate: number; mode: DivergenceMode };
  /**
   * Hung, as a stopped process (SIGSTOP) or a stuck lock: connections stay open and requests are taken in,
   * none is answered; when it ends, every request held is applied and answered in order, those of clients
   * that went away meanwhile included (their replies are lost).
   */
  hang: boolean;
  /**
   * A deployment that adds a field varying on every reply (a counter of replies served) to its object replies,
   * as real services grow request counters and ids: noise for the comparison to learn. "" for none.
   */
  counterField: string;
}

export const noFaults = (): Faults => ({
  latencyMs: 0,
  jitterMs: 0,
  errorRate: 0,
  down: false,
  divergence: { rate: 0, mode: 'alter' },
  hang: false,
  counterField: '',
});

const rate = z.number().min(0).max(1);
const ms = z.number().min(0).max(600_000);

export const faultsPatchSchema = z.strictObject({
  latencyMs: ms.optional(),
  jitterMs: ms.optional(),
  errorRate: rate.optional(),
  down: z.boolean().optional(),
  hang: z.boolean().optional(),
  counterField: z.string().max(64).optional(),
  divergence: z.strictObject({ rate: rate.optional(), mode: z.enum(['alter', 'drop']).optional() }).optional(),
});
export type FaultsPatch = z.infer<typeof faultsPatchSchema>;

export function mergeFaults(base: Faults, patch: FaultsPatch): Faults {
  const { divergence, ...flat } = patch;
  const defined = <T extends object>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
  return { ...base, ...defined(flat), divergence: { ...base.divergence, ...defined(divergence ?? {}) } };
}

/**
 * One `--fault target.key=value` assignment (key may be `divergence.rate`) as a target and a validated
 * patch. Throws with a message naming the bad part.
 */
export function parseFaultAssignment(text: string): { target: SimTarget; patch: FaultsPatch } {
  const m = /^([^.=]+)\.([^=]+)=(.*)$/.exec(text);
  if (!m) throw new Error(`--fault "${text}": expected target.key=value`);
  const [, target, key, raw] = m as unknown as [string, string, string, string];
  if (!isSimTarget(target)) throw new Error(`--fault "${text}": unknown target "${target}" (one of ${SIM_TARGETS.join(', ')})`);
  const value: unknown = raw === 'true' ? true : raw === 'false' ? false : raw !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw;
  const path = key.split('.');
  const patch = path.length === 2 ? { [path[0]!]: { [path[1]!]: value } } : { [key]: value };
  const parsed = faultsPatchSchema.safeParse(patch);
  if (!parsed.success) throw new Error(`--fault "${text}": ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  return { target, patch: parsed.data };
}
