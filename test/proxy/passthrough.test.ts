/**
 * The "off" stage: through the proxy an agent gets the same replies as from the legacy service
 * itself, for every action of all three services, over real ZeroMQ sockets and over HTTP.
 */
import { describe, expect, it } from 'vitest';
import type { SimService as ServiceName } from '../../src/tools/sim/services.js';
import { ReqClient } from '../support/zmq-client.js';
import { useProxyOnSims } from '../support/stack.js';

const { sims, proxy } = useProxyOnSims();

/** Every action of each service, with `K` standing for the key so the direct and proxied runs touch different records. */
const SCRIPTS: Record<ServiceName, string[]> = {
  'session-memory': [
    '{"action": "create_session", "session_id": "K", "user_id": "u1", "metadata": {"lang": "en"}, "request_id": "r1"}',
    '{"action": "add_interaction", "session_id": "K", "role": "user", "content": "hello there, how are you today?", "request_id": "r2"}',
    '{"action": "add_interaction", "session_id": "K", "role": "assistant", "content": "fine", "metadata": {"tags": ["x"]}}',
    '{"action": "get_context", "session_id": "K", "max_tokens": 5, "request_id": "r3"}',
    '{"action": "get_context", "session_id": "K"}',
    '{"action": "add_interaction", "session_id": "K-unknown", "role": "user", "content": "x", "request_id": "r4"}',
    '{"action": "add_interaction", "session_id": "K", "request_id": "r5"}',
    '{"action": "clear_session", "session_id": "K"}',
    '{"action": "get_context", "session_id": "K"}',
    '{"action": "delete_session", "session_id": "K", "request_id": "r6"}',
    '{"action": "health_check"}',
    '{"action": "no_such_action", "request_id": "r7"}',
  ],
  'contextual-memory': [
    '{"action": "add_interaction", "session_id": "K", "type": "code", "content": "SELECT * FROM t -- database via http thread"}',
    '{"action": "add_interaction", "session_id": "K", "type": "user_query", "content": "what does this query do?"}',
    '{"action": "add_interaction", "session_id": "K", "type": "error", "content": "ValueError exception raised"}',
    '{"action": "record_decision", "session_id": "K", "decision": "use postgres"}',
    '{"action": "get_context", "session_id": "K", "max_tokens": 40}',
    '{"action": "get_context", "session_id": "K-unknown"}',
    '{"action": "health_check"}',
    '{"action": "no_such_action"}',
  ],
  'jarvis-memory': [
    '{"action": "add_memory", "user_id": "K", "memory": {"type": "reminder", "text": "call mom", "at": "18:00"}}',
    '{"action": "add_memory", "user_id": "K", "memory": "likes jazz"}',
    '{"action": "get_memories", "user_id": "K"}',
    '{"action": "clear_memories", "user_id": "K"}',
    '{"action": "get_memories", "user_id": "K"}',
    '{"action": "no_such_action"}',
  ],
};

/** Masks what legitimately differs between two runs: clock readings and generated ids. */
const mask = (reply: Buffer, key: string) =>
  reply
    .toString('utf8')
    .replaceAll(key, 'K')
    .replace(/\d{4}-\d\d-\d\dT[\d:.]+/g, 'T')
    .replace(/"(timestamp|last_updated|uptime_seconds|total_requests)": [\d.e+]+/g, '"$1": T');

async function play(endpoint: string, script: string[], key: string): Promise<string[]> {
  const client = new ReqClient(endpoint);
  try {
    const out: string[] = [];
    for (const line of script) out.push(mask(await client.raw(line.replaceAll('"K', `"${key}`)), key));
    return out;
  } finally {
    client.close();
  }
}

describe.each(Object.keys(SCRIPTS) as ServiceName[])('%s through the ZeroMQ front', (service) => {
  it('answers every action exactly as the legacy service does', async () => {
    const direct = await play(sims().endpoints[service], SCRIPTS[service], `direct-${service}`);
    const proxied = await play(proxy().fronts[service]!, SCRIPTS[service], `proxied-${service}`);
    expect(proxied).toEqual(direct);
    // The scripts must exercise real replies, not a string of identical errors.
    expect(new Set(direct).size).toBeGreaterThan(SCRIPTS[service].length / 2);
  });
});

describe('byte-for-byte passthrough', () => {
  it('keeps bare JSON replies and Python formatting as the service sent them', async () => {
    const client = new ReqClient(proxy().fronts['contextual-memory']!);
    const reply = await client.raw('{"action": "record_decision", "session_id": "bytes-1", "decision": "d"}');
    client.close();
    expect(reply.toString('utf8')).toBe('true');
  });

  it('serves the same reply over HTTP', async () => {
    const body = '{"action": "get_memories", "user_id": "http-user"}';
    const res = await fetch(`${proxy().httpUrl}/v1/jarvis-memory`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('{"status": "ok", "memories": []}');
  });
});

describe('concurrency', () => {
  it('gives 200 concurrent REQ clients each their own reply', async () => {
    const clients = Array.from({ length: 200 }, () => new ReqClient(proxy().fronts['session-memory']!));
    try {
      const replies = await Promise.all(clients.map((c, i) => c.call({ action: 'create_session', session_id: `conc-${i}`, request_id: `req-${i}` })));
      replies.forEach((r, i) => expect(r).toEqual({ status: 'success', session_id: `conc-${i}`, request_id: `req-${i}` }));
      const contexts = await Promise.all(
        clients.map(async (c, i) => {
          await c.call({ action: 'add_interaction', session_id: `conc-${i}`, role: 'user', content: `I am client ${i}` });
          return c.call({ action: 'get_context', session_id: `conc-${i}` });
        }),
      );
      contexts.forEach((r, i) => expect((r as { context: { content: string }[] }).context.map((e) => e.content)).toEqual([`I am client ${i}`]));
    } finally {
      clients.forEach((c) => c.close());
    }
  });
});

describe('health', () => {
  it('reports every backend healthy with its latency', async () => {
    const res = await fetch(`${proxy().httpUrl}/healthz`);
    const body = (await res.json()) as { status: string; backends: Record<string, { ok: boolean; latency_ms: number }> };
    expect(res.status).toBe(200);
    expect(body.status).toBe('healthy');
    expect(Object.keys(body.backends).sort()).toEqual(['contextual-memory', 'jarvis-memory', 'orchestrator', 'session-memory', 'state store']);
    for (const b of Object.values(body.backends)) expect(b.latency_ms).toBeGreaterThanOrEqual(0);
    expect((await fetch(`${proxy().httpUrl}/readyz`)).status).toBe(200);
  });
});
