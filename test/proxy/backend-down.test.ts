/** A dead legacy service gives agents a timely error, and traffic recovers when it returns. */
import { expect, it } from 'vitest';
import { requestOnce } from '../support/zmq-client.js';
import { useProxyOnSims } from '../support/stack.js';

const { sims, proxy } = useProxyOnSims();

const ask = async () =>
  JSON.parse((await requestOnce(proxy().fronts['jarvis-memory']!, { action: 'get_memories', user_id: 'u' })).toString()) as Record<string, unknown>;

it('fails fast while the service is down and recovers without restarting the proxy', async () => {
  expect(await ask()).toEqual({ status: 'ok', memories: [] });

  await sims().down('jarvis-memory');
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    const reply = await ask();
    // The leg timeout is 2 s: an answer well inside it shows the failure was detected, not waited out. A request
    // sent as the service went away is answered "disconnected": its outcome is unknown, and said so.
    expect(performance.now() - started).toBeLessThan(1000);
    expect(reply).toEqual({ status: 'error', reason: expect.stringMatching(/jarvis-memory backend (unavailable|circuit_open|disconnected)/) });
  }
  const health = (await (await fetch(`${proxy().httpUrl}/healthz`)).json()) as { status: string };
  expect(health.status).toBe('unhealthy');

  await sims().up('jarvis-memory');
  const deadline = Date.now() + 5000;
  let reply = await ask();
  while (reply.status !== 'ok' && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    reply = await ask();
  }
  expect(reply).toEqual({ status: 'ok', memories: [] });
});

it('reports degraded, not unhealthy, when only the orchestrator is down', async () => {
  await sims().down('orchestrator');
  try {
    const res = await fetch(`${proxy().httpUrl}/healthz`);
    const body = (await res.json()) as { status: string; backends: Record<string, { ok: boolean }> };
    expect(res.status).toBe(200);
    expect(body.status).toBe('degraded');
    expect(body.backends.orchestrator!.ok).toBe(false);
    expect(body.backends['session-memory']!.ok).toBe(true);
  } finally {
    await sims().up('orchestrator');
  }
});
