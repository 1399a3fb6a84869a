/** The legacy services memshift fronts, one module each; adding one is a module and a line here. */
import { contextualMemory } from './contextual-memory/index.js';
import { jarvisMemory } from './jarvis-memory/index.js';
import { sessionMemory } from './session-memory/index.js';
import type { LegacyService } from './service.js';
import type { ServiceName } from './types.js';

export type { ServiceName };

const REGISTRY = new Map<string, LegacyService>();

/** Adds a service module (tests register small fakes); before config is loaded, like the built-in ones. */
export function registerService(service: LegacyService): void {
  REGISTRY.set(service.name, service);
}

[sessionMemory, contextualMemory, jarvisMemory].forEach(registerService);

export const serviceNames = (): ServiceName[] => [...REGISTRY.keys()];

export const isServiceName = (s: string): s is ServiceName => REGISTRY.has(s);

export function serviceOf(name: ServiceName): LegacyService {
  const service = REGISTRY.get(name);
  if (!service) throw new Error(`unknown service "${name}" (known: ${serviceNames().join(', ')})`);
  return service;
}

/** Default port agents connect to at the proxy: the legacy port + 10000. */
export const frontPortFor = (s: ServiceName): number => serviceOf(s).legacyPort + 10000;
export const ORCHESTRATOR_PORT = 5570;
