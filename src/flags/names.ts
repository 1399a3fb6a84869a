/** The memshift flag names: five per legacy service plus one global kill switch. */
import { serviceNames, serviceOf, type ServiceName } from '../services/registry.js';

/** Per-service flags, in migration order (each later flag selects a later stage). */
export const FLAG_KINDS = ['dual-write', 'shadow-read', 'read-new', 'new-primary', 'legacy-off'] as const;
export type FlagKind = (typeof FLAG_KINDS)[number];

export const KILL_SWITCH = 'memshift.kill-switch';

// Made once per service: names are looked up for every request.
const NAMES = new Map<ServiceName, Record<FlagKind, string>>();

export function flagName(service: ServiceName, kind: FlagKind): string {
  let names = NAMES.get(service);
  if (!names) NAMES.set(service, (names = Object.fromEntries(FLAG_KINDS.map((k) => [k, `memshift.${service}.${k}`])) as Record<FlagKind, string>));
  return names[kind];
}

/** A flag's name without its `memshift.<service>.` prefix, as reports and chat lines show it beside the service's name. */
export const shortFlagName = (name: string): string => name.replace(/^memshift\.[^.]+\./, '');

export const serviceFlagNames = (service: ServiceName): string[] => FLAG_KINDS.map((k) => flagName(service, k));

export const allFlagNames = (): string[] => [...serviceNames().flatMap(serviceFlagNames), KILL_SWITCH];

/**
 * The flexibleRollout stickiness a rollout flag must use: shadow reads sample requests, read cutover
 * keeps a whole session (or user) on one side so it never sees its memory flip back and forth.
 * Undefined for on/off flags.
 */
export function rolloutStickiness(service: ServiceName, kind: FlagKind): string | undefined {
  if (kind === 'shadow-read') return 'random';
  if (kind === 'read-new') return serviceOf(service).stickyOn;
  return undefined;
}
