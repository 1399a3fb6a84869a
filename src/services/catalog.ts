/**
 * The three legacy services as data: their actions classified read / write, the key each action
 * touches, and each service's own error shape (PROTOCOLS.md section 1). Fronts, plans and the
 * simulators all read this one table.
 */
export const SERVICE_NAMES = ['session-memory', 'contextual-memory', 'jarvis-memory'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export type ActionKind = 'read' | 'write' | 'health';
type KeyField = 'session_id' | 'user_id';

export interface ActionSpec {
  kind: ActionKind;
  /** Request field naming the record the action touches; used for stickiness, ordering, reconciliation. */
  key?: KeyField;
  /** Value the legacy service assumes when the key field is absent. */
  keyDefault?: string;
}

/** A reply counts as success when any rule matches; `path` "" is the reply itself (bare values). */
export interface SuccessRule {
  path: string;
  equals?: string | number | boolean | null;
  /** Regular expression tested against the value at `path` as a string. */
  matches?: string;
}

export interface ServiceSpec {
  name: ServiceName;
  /** The name the voice assistant's code uses for it. */
  legacyName: string;
  legacyPort: number;
  /** The Unleash context field that read cutover is sticky on. */
  stickyOn: 'sessionId' | 'userId';
  /** The orchestrator memory_type its records become (translators, repair and the reconciler's views agree on it). */
  memoryType: 'conversation' | 'context' | 'entity';
  actions: Record<string, ActionSpec>;
  /** Default rules telling whether a write reply means the write happened (config can override). */
  writeSuccess: SuccessRule[];
  /** The service's error reply for a message, as the service itself would shape it. */
  errorReply(message: string, requestId?: unknown): unknown;
}

export const SERVICES: Record<ServiceName, ServiceSpec> = {
  'session-memory': {
    name: 'session-memory',
    legacyName: 'SessionMemoryAgent',
    legacyPort: 5574,
    stickyOn: 'sessionId',
    memoryType: 'conversation',
    actions: {
      create_session: { kind: 'write', key: 'session_id' },
      add_interaction: { kind: 'write', key: 'session_id' },
      get_context: { kind: 'read', key: 'session_id' },
      clear_session: { kind: 'write', key: 'session_id' },
      delete_session: { kind: 'write', key: 'session_id' },
      health_check: { kind: 'health' },
    },
    writeSuccess: [{ path: 'status', equals: 'success' }],
    errorReply: (message, requestId) => ({ status: 'error', message, request_id: requestId ?? null }),
  },
  'contextual-memory': {
    name: 'contextual-memory',
    legacyName: 'contextual_memory_pc2',
    legacyPort: 5596,
    stickyOn: 'sessionId',
    memoryType: 'context',
    actions: {
      add_interaction: { kind: 'write', key: 'session_id' },
      get_context: { kind: 'read', key: 'session_id' },
      record_decision: { kind: 'write', key: 'session_id' },
      health_check: { kind: 'health' },
    },
    // As deployed, its loop answers every bare true/false with an AttributeError after the write was made
    // (PROTOCOLS.md 1.2): the write happened unless the message says otherwise.
    writeSuccess: [
      { path: '', equals: true },
      { path: 'message', matches: "object has no attribute 'get'" },
    ],
    errorReply: (message) => ({ status: 'error', message }),
  },
  'jarvis-memory': {
    name: 'jarvis-memory',
    legacyName: 'jarvis_memory_pc2',
    legacyPort: 5598,
    stickyOn: 'userId',
    memoryType: 'entity',
    actions: {
      add_memory: { kind: 'write', key: 'user_id', keyDefault: 'default' },
      get_memories: { kind: 'read', key: 'user_id', keyDefault: 'default' },
      clear_memories: { kind: 'write', key: 'user_id', keyDefault: 'default' },
    },
    writeSuccess: [{ path: 'status', equals: 'ok' }],
    errorReply: (message) => ({ status: 'error', reason: message }),
  },
};

export function isServiceName(s: string): s is ServiceName {
  return (SERVICE_NAMES as readonly string[]).includes(s);
}

/** Default port agents connect to at the proxy: the legacy port + 10000. */
export const frontPortFor = (s: ServiceName): number => SERVICES[s].legacyPort + 10000;
export const ORCHESTRATOR_PORT = 5570;
