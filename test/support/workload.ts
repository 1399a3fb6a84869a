/** A realistic mixed agent workload for fidelity tests: raw request texts per agent (floats spelt as Python agents spell them). */
import { ReqClient } from './zmq-client.js';

export const q = JSON.stringify;
const TYPES = ['code', 'user_query', 'system_response', 'error'];
const BUDGETS = ['', ', "max_tokens": null', ', "max_tokens": 2000', ', "max_tokens": 40', ', "max_tokens": 10', ', "max_tokens": 3', ', "max_tokens": 7.5'];

/** One agent's requests, as raw JSON text (floats spelt as a Python agent spells them). */
function contextualAgent(sid: string): string[] {
  const out: string[] = [];
  for (let k = 0; k < 64; k++) {
    const type = TYPES[k % 4]!;
    const content = type === 'code' ? `def f${k}():\n    return db.query("SELECT ${k}")  # http thread` : `${type} ${k} ${'words '.repeat(k % 30)}`;
    const metadata = k % 3 === 0 ? ', "metadata": {"line": 3.0, "weight": 1e-05}' : '';
    out.push(`{"action": "add_interaction", "session_id": ${q(sid)}, "type": "${type}", "content": ${q(content)}${metadata}}`);
    if (k % 7 === 3) out.push(`{"action": "record_decision", "session_id": ${q(sid)}, "decision": "decision ${k}"}`);
    if (k % 5 === 4) out.push(`{"action": "get_context", "session_id": ${q(sid)}${BUDGETS[((k / 5) % BUDGETS.length) | 0]}}`);
  }
  return out;
}

function sessionAgent(sid: string): string[] {
  const out = [`{"action": "create_session", "session_id": ${q(sid)}, "user_id": "u-${sid}", "metadata": {"score": 0.5}}`];
  for (let k = 0; k < 30; k++) {
    out.push(
      `{"action": "add_interaction", "session_id": ${q(sid)}, "role": "${k % 2 ? 'assistant' : 'user'}", "content": ${q(`turn ${k} ${'x'.repeat(k * 7)}`)}}`,
    );
    if (k % 4 === 3) out.push(`{"action": "get_context", "session_id": ${q(sid)}${['', ', "max_tokens": 10', ', "max_tokens": 200'][k % 3]}}`);
  }
  return out;
}

function jarvisAgent(user: string): string[] {
  const out: string[] = [];
  for (let k = 0; k < 20; k++) {
    out.push(
      `{"action": "add_memory", "user_id": ${q(user)}, "memory": {"n": 3.0, "tiny": 1e-05, "big": 25000000000.0, "k": ${k}, "text": "memory ${k} caf\\u00e9"}}`,
    );
    if (k % 3 === 2) out.push(`{"action": "get_memories", "user_id": ${q(user)}}`);
  }
  return out;
}

/** Sends one agent's requests in order on its own REQ socket; the reply texts. */
export async function run(endpoint: string, requests: string[]): Promise<string[]> {
  const c = new ReqClient(endpoint, 10_000);
  try {
    const replies: string[] = [];
    for (const r of requests) replies.push((await c.raw(r)).toString('utf8'));
    return replies;
  } finally {
    c.close();
  }
}

/** The agents of each service at once, each on its own socket, through `endpoints` (memshift's fronts or the services). */
export async function runAgents(
  endpoints: Partial<Record<string, string>>,
  agents: { contextual: readonly string[]; sessions: readonly string[]; users: readonly string[] },
): Promise<void> {
  await Promise.all([
    ...agents.contextual.map((s) => run(endpoints['contextual-memory']!, contextualAgent(s))),
    ...agents.sessions.map((s) => run(endpoints['session-memory']!, sessionAgent(s))),
    ...agents.users.map((u) => run(endpoints['jarvis-memory']!, jarvisAgent(u))),
  ]);
}
