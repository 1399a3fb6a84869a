/** The translator of each legacy service, over an orchestrator client and the id map. */
import type { ServiceName } from './catalog.js';
import { ContextualMemoryTranslator } from './contextual-memory/translator.js';
import { JarvisMemoryTranslator } from './jarvis-memory/translator.js';
import { SessionMemoryTranslator } from './session-memory/translator.js';
import type { IdMap, OrchestratorClient, Translator } from './types.js';

const TRANSLATORS: Record<ServiceName, new (client: OrchestratorClient, ids: IdMap) => Translator> = {
  'session-memory': SessionMemoryTranslator,
  'contextual-memory': ContextualMemoryTranslator,
  'jarvis-memory': JarvisMemoryTranslator,
};

export const createTranslator = (service: ServiceName, client: OrchestratorClient, ids: IdMap): Translator => new TRANSLATORS[service](client, ids);

export function createTranslators(client: OrchestratorClient, ids: IdMap): Record<ServiceName, Translator> {
  return {
    'session-memory': createTranslator('session-memory', client, ids),
    'contextual-memory': createTranslator('contextual-memory', client, ids),
    'jarvis-memory': createTranslator('jarvis-memory', client, ids),
  };
}
