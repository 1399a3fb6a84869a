/** Both sides' records of one agent's key as the simulators hold them (no test framework: a simulator child reads them too). */
import type { SimHandle } from '../../src/tools/sim/index.js';

export type WrittenService = 'session-memory' | 'jarvis-memory' | 'contextual-memory';

/** A key one agent writes: a session (session-memory, contextual-memory) or a user (jarvis-memory). */
export interface Keyed {
  service: WrittenService;
  key: string;
}

/** The key's records on the legacy simulator, in its order. */
export function legacyRecords(sims: SimHandle, agent: Keyed): string[] {
  // The agent keeps its 50 newest interactions, newest first.
  if (agent.service === 'contextual-memory')
    return (sims.models['contextual-memory'].sessions.get(agent.key)?.newestFirst ?? []).map((i) => i.content).reverse();
  if (agent.service === 'session-memory') return (sims.models['session-memory'].sessions.get(agent.key)?.interactions ?? []).map((i) => i.content);
  return (sims.models['jarvis-memory'].users.get(agent.key) ?? []).map((e) => String((e.memory as { record?: unknown }).record));
}

/** The key's active records on the orchestrator simulator (every session it has for the key), in insertion order. */
export function newRecords(sims: SimHandle, agent: Keyed): string[] {
  const o = sims.models.orchestrator;
  const field = agent.service === 'jarvis-memory' ? 'legacy_user_id' : 'legacy_session_id';
  const ids = new Set([...o.sessions.values()].filter((s) => s.metadata[field] === agent.key).map((s) => s.session_id));
  const type = { 'session-memory': 'conversation', 'jarvis-memory': 'entity', 'contextual-memory': 'context' }[agent.service];
  // Contextual interactions only: its decisions are context memories too.
  const decision = (m: { content: { metadata?: unknown } }) => (m.content.metadata as { type?: unknown } | undefined)?.type === 'decision';
  return [...o.memories.values()]
    .filter((m) => ids.has(m.session_id) && m.is_active && m.memory_type === type && !decision(m))
    .sort((a, b) => a.seq - b.seq)
    .map((m) =>
      agent.service === 'jarvis-memory' ? String(((m.content.metadata as { memory?: { record?: unknown } }).memory ?? {}).record) : String(m.content.text),
    );
}

/** A contextual session's conversation summary in the agent's snapshot on each side (undefined where none is stored). */
export function conversationSummaries(sims: SimHandle, agent: Keyed): { legacy: unknown; fresh: unknown } {
  const o = sims.models.orchestrator;
  const ids = new Set([...o.sessions.values()].filter((s) => s.metadata.legacy_session_id === agent.key).map((s) => s.session_id));
  const stored = [...o.memories.values()].find((m) => ids.has(m.session_id) && m.is_active && m.memory_type === 'agent_state');
  const snapshot = (stored?.content.metadata as { snapshot?: { conversation_summary?: unknown } } | undefined)?.snapshot;
  return { legacy: sims.models['contextual-memory'].sessions.get(agent.key)?.summary?.conversation_summary, fresh: snapshot?.conversation_summary };
}
