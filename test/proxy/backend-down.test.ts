/** A legacy service that is away: agents' requests wait for it up to the leg timeout, and are answered when it returns. */
import { expect, it } from 'vitest';
import { requestOnce } from '../support/zmq-client.js';
import { useProxyOnSims } from '../support/stack.js';
import { servedOf } from '../../src/report/served.js';

const { sims, proxy } = useProxyOnSims();

const ask = async () =>
  JSON.parse((await requestOnce(proxy().fronts['jarvis-memory']!, { action: 'get_memories', user_id: 'u' })).toString()) as Record<string, unknown>;

it('holds requests for a service that is away, as a direct client would, and errs only at the leg timeout', async () => {
  expect(await ask()).toEqual({ status: 'ok', memories: [] });

  await sims().down('jarvis-memory');
  // Never there within the leg timeout (2 s): the service's own error shape, saying it was unavailable.
  expect(await ask()).toEqual({ status: 'error', reason: expect.stringMatching(/jarvis-memory backend (unavailable|disconnected)/) });
  const health = (await (await fetch(`${proxy().httpUrl}/healthz`)).json()) as { status: string };
  expect(health.status).toBe('unhealthy');

  // Sent while it is away, answered by the service once it is back: no error from memshift.
  const pending = ask();
  await new Promise((r) => setTimeout(r, 300));
  await sims().up('jarvis-memory');
  expect(await pending).toEqual({ status: 'ok', memories: [] });

  // The daily report's served figures: three requests answered, the one memshift answered with its error among them.
  await proxy().store.flush();
  const tallies = await proxy().store.tallies.sum(new Date(Date.now() - 3_600_000), new Date(Date.now() + 60_000));
  expect(servedOf(tallies, 'jarvis-memory')).toMatchObject({ requests: 3, ok: 2, backendError: 1, badRequest: 0 });
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
