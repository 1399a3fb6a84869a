/**
 * What the flags decide for one request: which side answers the agent, whether the other side is
 * written second, and whether a read is shadowed (sent to the other side too and compared).
 */
import type { ActionKind } from '../services/service.js';
import type { FlagDecision } from '../flags/source.js';
import type { Route } from '../routes/route.js';

export type { FlagDecision };

export type { Side } from '../comparison/observation.js';
import type { Side } from '../comparison/observation.js';

export interface Plan {
  /** The side whose reply the agent gets. */
  primary: Side;
  /** Writes only: the other side is written after the primary succeeded. */
  writeSecondary: boolean;
  /** Reads only: the other side is asked too and both replies compared. */
  shadow: boolean;
  /** Writes only: the side a migrating service's write leaves behind (legacy at complete, new under the kill switch). */
  skips?: Side;
  /** The side the flags named, passed over as it lacks writes to the key (turned.ts): a read of it is re-checked, not compared now. */
  behind?: Side;
}

export const other = (side: Side): Side => (side === 'legacy' ? 'new' : 'legacy');

export const SIDES: readonly Side[] = ['legacy', 'new'];

export function planFor(kind: ActionKind | undefined, f: FlagDecision): Plan {
  const legacyOnly: Plan = { primary: 'legacy', writeSecondary: false, shadow: false };
  if (f.killSwitch) return kind === 'write' && f.dualWrite ? { ...legacyOnly, skips: 'new' } : legacyOnly;
  if (f.legacyOff) return { primary: 'new', writeSecondary: false, shadow: false, ...(kind === 'write' ? { skips: 'legacy' as const } : {}) };
  // Health checks and unknown actions concern the primary alone.
  if (kind !== 'read' && kind !== 'write') return { ...legacyOnly, primary: f.newPrimary ? 'new' : 'legacy' };
  if (f.newPrimary)
    return kind === 'write' ? { primary: 'new', writeSecondary: true, shadow: false } : { primary: 'new', writeSecondary: false, shadow: f.shadowRead };
  if (kind === 'write') return { ...legacyOnly, writeSecondary: f.dualWrite };
  // Serving reads from a side that writes do not reach would serve stale data: read-new needs dual-write.
  return { primary: f.readNew && f.dualWrite ? 'new' : 'legacy', writeSecondary: false, shadow: f.shadowRead };
}

/** What the flags decide a request by: its session and its user. */
export function flagContext(route: Route): { sessionId?: string; userId?: string } {
  // Only strings count here, and the native parse has them exactly as Python reads them.
  const fields = route.parsed ?? route.request;
  const s = fields.session_id;
  const u = fields.user_id;
  return {
    sessionId: typeof s === 'string' ? s : undefined,
    // A user-keyed action without user_id is the service's default user (the key stands for it).
    userId: typeof u === 'string' ? u : route.spec?.key === 'user_id' && route.key ? route.key : undefined,
  };
}
