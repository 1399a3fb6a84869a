/** Both sides' records of one agent's key as the simulators hold them (no test framework: a simulator child reads them too). */
import type { SimHandle } from '../../src/tools/sim/index.js';

export type WrittenService = 'session-memory' | 'jarvis-memory';

/** A key one agent writes: a session (session-memory) or a user (jarvis-memory). */
export interface Keyed {
  service: WrittenService;
  key: string;
}

/** The key's records on the legacy simulator, in its order. */
export function legacyRecords(sims: SimHandle, agent: Keyed): string[] {
  if (agent.service === 'session-memory') return (sims.models['session-memory'].sessions.get(agent.key)?.interactions ?? []).map((i) => i.content);
  return (sims.models['jarvis-memory'].users.get(agent.key) ?? []).map((e) => String((e.memory as { record?: unknown }).record));
}

/** The key's active records on the orchestrator simulator (every session it has for the key), in insertion order. */
export function newRecords(sims: SimHandle, agent: Keyed): string[] {
  const o = sims.models.orchestrator;
  const field = agent.service === 'session-memory' ? 'legacy_session_id' : 'legacy_user_id';
  const ids = new Set([...o.sessions.values()].filter((s) => s.metadata[field] === agent.key).map((s) => s.session_id));
  const type = agent.service === 'session-memory' ? 'conversation' : 'entity';
  return [...o.memories.values()]
    .filter((m) => ids.has(m.session_id) && m.is_active && m.memory_type === type)
    .sort((a, b) => a.seq - b.seq)
    .map((m) =>
      agent.service === 'session-memory' ? String(m.content.text) : String(((m.content.metadata as { memory?: { record?: unknown } }).memory ?? {}).record),
    );
}
