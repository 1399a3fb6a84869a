/** The memshift flag names: five per legacy service plus one global kill switch. */
import { SERVICE_NAMES, SERVICES, type ServiceName } from '../services/catalog.js';

/** Per-service flags, in migration order (each later flag selects a later stage). */
export const FLAG_KINDS = ['dual-write', 'shadow-read', 'read-new', 'new-primary', 'legacy-off'] as const;
export type FlagKind = (typeof FLAG_KINDS)[number];

export const KILL_SWITCH = 'memshift.kill-switch';

// Built once: names are looked up for every request.
const NAMES = Object.fromEntries(SERVICE_NAMES.map((s) => [s, Object.fromEntries(FLAG_KINDS.map((k) => [k, `memshift.${s}.${k}`]))])) as Record<
  ServiceName,
  Record<FlagKind, string>
>;

export const flagName = (service: ServiceName, kind: FlagKind): string => NAMES[service][kind];

export const serviceFlagNames = (service: ServiceName): string[] => FLAG_KINDS.map((k) => flagName(service, k));

export const ALL_FLAG_NAMES: readonly string[] = [...SERVICE_NAMES.flatMap(serviceFlagNames), KILL_SWITCH];

/**
 * The flexibleRollout stickiness a rollout flag must use: shadow reads sample requests, read cutover
 * keeps a whole session (or user) on one side so it never sees its memory flip back and forth.
 * Undefined for on/off flags.
 */
export function rolloutStickiness(service: ServiceName, kind: FlagKind): string | undefined {
  if (kind === 'shadow-read') return 'random';
  if (kind === 'read-new') return SERVICES[service].stickyOn;
  return undefined;
}
