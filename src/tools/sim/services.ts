/**
 * The legacy services the simulators stand in for, as PROTOCOLS.md section 1 describes them: names, ports,
 * store files and error replies, written here from the document (never taken from memshift's own service
 * modules, so that a misreading there is not repeated here).
 */
export const SIM_SERVICES = ['session-memory', 'contextual-memory', 'jarvis-memory'] as const;
export type SimService = (typeof SIM_SERVICES)[number];

export const SIM_PORTS: Record<SimService | 'orchestrator', number> = {
  'session-memory': 5574,
  'contextual-memory': 5596,
  'jarvis-memory': 5598,
  orchestrator: 5570,
};

/** Where each service keeps its store, under its data directory. */
export const SIM_FILES: Record<SimService, string> = {
  'session-memory': 'session_memory.db',
  'contextual-memory': 'contextual_memory_store.json',
  'jarvis-memory': 'jarvis_memory_store.json',
};

/** Each service's own error reply. */
export const SIM_ERROR_REPLIES: Record<SimService, (message: string, requestId?: unknown) => unknown> = {
  'session-memory': (message, requestId) => ({ status: 'error', message, request_id: requestId ?? null }),
  'contextual-memory': (message) => ({ status: 'error', message }),
  'jarvis-memory': (message) => ({ status: 'error', reason: message }),
};
