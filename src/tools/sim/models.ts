/** The simulators' models by target: what the simulators run, their storage persists and tests inspect. */
import type { ContextualMemoryModel } from './contextual-memory.js';
import type { JarvisMemoryModel } from './jarvis-memory.js';
import type { OrchestratorModel } from './orchestrator.js';
import type { SessionMemoryModel } from './session-memory.js';

export interface SimModels {
  'session-memory': SessionMemoryModel;
  'contextual-memory': ContextualMemoryModel;
  'jarvis-memory': JarvisMemoryModel;
  orchestrator: OrchestratorModel;
}
