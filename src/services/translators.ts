/** One translator per legacy service, all over the same orchestrator client and id map. */
import type { ServiceName } from './catalog.js';
import { ContextualMemoryTranslator } from './contextual-memory.js';
import { JarvisMemoryTranslator } from './jarvis-memory.js';
import { SessionMemoryTranslator } from './session-memory.js';
import type { IdMap, OrchestratorClient, Translator } from './types.js';

export function createTranslators(client: OrchestratorClient, ids: IdMap): Record<ServiceName, Translator> {
  return {
    'session-memory': new SessionMemoryTranslator(client, ids),
    'contextual-memory': new ContextualMemoryTranslator(client, ids),
    'jarvis-memory': new JarvisMemoryTranslator(client, ids),
  };
}
