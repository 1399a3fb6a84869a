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

/** The orchestrator sessions the simulator holds for the agent's key (a lost create reply or racing replicas make more than one). */
function sessionIds(sims: SimHandle, agent: Keyed): Set<string> {
  const field = agent.service === 'jarvis-memory' ? 'legacy_user_id' : 'legacy_session_id';
  return new Set([...sims.models.orchestrator.sessions.values()].filter((s) => s.metadata[field] === agent.key).map((s) => s.session_id));
}

/** The key's active records on the orchestrator simulator (every session it has for the key), in insertion order: decisions or the rest. */
function activeRecords(sims: SimHandle, agent: Keyed, decisions: boolean): string[] {
  const ids = sessionIds(sims, agent);
  const type = { 'session-memory': 'conversation', 'jarvis-memory': 'entity', 'contextual-memory': 'context' }[agent.service];
  // A contextual decision is a context memory too.
  const decision = (m: { content: { metadata?: unknown } }) => (m.content.metadata as { type?: unknown } | undefined)?.type === 'decision';
  return [...sims.models.orchestrator.memories.values()]
    .filter((m) => ids.has(m.session_id) && m.is_active && m.memory_type === type && decision(m) === decisions)
    .sort((a, b) => a.seq - b.seq)
    .map((m) =>
      agent.service === 'jarvis-memory' ? String(((m.content.metadata as { memory?: { record?: unknown } }).memory ?? {}).record) : String(m.content.text),
    );
}

/** For looking into a lost write: the orchestrator's memories of the key holding one of `texts`, live or not, and its sessions. */
export function memoriesOf(sims: SimHandle, agent: Keyed, texts: readonly string[]): { sessions: string[]; memories: unknown[] } {
  const ids = sessionIds(sims, agent);
  const memories = [...sims.models.orchestrator.memories.values()]
    .filter((m) => ids.has(m.session_id) && texts.includes(String(m.content.text)))
    .map(({ memory_id, session_id, seq, created_at, updated_at, is_active, content }) => ({
      memory_id,
      session_id,
      seq,
      created_at,
      updated_at,
      is_active,
      content,
    }));
  return { sessions: [...ids], memories };
}

/** The key's active records on the orchestrator simulator (every session it has for the key), in insertion order; no decisions. */
export const newRecords = (sims: SimHandle, agent: Keyed): string[] => activeRecords(sims, agent, false);

/** A contextual session's decisions: the orchestrator's decision memories, in insertion order. */
export const newDecisions = (sims: SimHandle, agent: Keyed): string[] => activeRecords(sims, agent, true);

type Snapshot = { conversation_summary?: unknown; key_decisions?: unknown } | undefined;

/** The snapshot the orchestrator holds for a contextual session (what get_context answers through memshift). */
function newSnapshot(sims: SimHandle, agent: Keyed): Snapshot {
  const ids = sessionIds(sims, agent);
  // Of the key's sessions, the one holding a snapshot.
  const stored = [...sims.models.orchestrator.memories.values()].find((m) => ids.has(m.session_id) && m.is_active && m.memory_type === 'agent_state');
  return (stored?.content.metadata as { snapshot?: { conversation_summary?: unknown } } | undefined)?.snapshot;
}

/** A contextual session's snapshot on each side, as the agent and the orchestrator hold it (undefined where none is stored). */
export function snapshotsOf(sims: SimHandle, agent: Keyed): { legacy: Snapshot; fresh: Snapshot } {
  return { legacy: sims.models['contextual-memory'].sessions.get(agent.key)?.summary, fresh: newSnapshot(sims, agent) };
}

const decisionsIn = (summary: Snapshot): string[] =>
  Array.isArray(summary?.key_decisions) ? summary.key_decisions.map((d) => String((d as { decision?: unknown }).decision)) : [];

/** A contextual session's decisions in the agent's snapshot on each side, in their order there. */
export function snapshotDecisions(sims: SimHandle, agent: Keyed): { legacy: string[]; fresh: string[] } {
  const { legacy, fresh } = snapshotsOf(sims, agent);
  return { legacy: decisionsIn(legacy), fresh: decisionsIn(fresh) };
}

/** A contextual session's conversation summary in the agent's snapshot on each side (undefined where none is stored). */
export function conversationSummaries(sims: SimHandle, agent: Keyed): { legacy: unknown; fresh: unknown } {
  const { legacy, fresh } = snapshotsOf(sims, agent);
  return { legacy: legacy?.conversation_summary, fresh: fresh?.conversation_summary };
}
