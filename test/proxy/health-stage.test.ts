/**
 * /healthz follows the stage: legacy hung is unhealthy while agents depend on it, degraded once it is only the secondary;
 * a slow backend that still answers calls in time is healthy, however often /healthz is polled.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { waitUntil } from '../outbox/support.js';
import { requestOnce } from '../support/zmq-client.js';
import { flagName } from '../../src/flags/names.js';
import { startMigrationStack, type MigrationStack } from '../support/migration.js';

let stack: MigrationStack;
beforeAll(async () => {
  stack = await startMigrationStack({
    [flagName('session-memory', 'dual-write')]: { enabled: true },
    [flagName('session-memory', 'new-primary')]: { enabled: true },
  });
});
afterAll(async () => {
  await stack?.close();
});

const health = async () => {
  const res = await fetch(`${stack.proxy.httpUrl}/healthz`);
  return { code: res.status, body: (await res.json()) as { status: string; backends: Record<string, { ok: boolean; breaker: string }> } };
};

/** /healthz while `target` hangs. */
async function healthWhileHung(target: 'session-memory' | 'jarvis-memory') {
  await stack.sims.applyFaults(target, { hang: true });
  try {
    return await health();
  } finally {
    await stack.sims.applyFaults(target, { hang: false });
  }
}

it('at new-primary a hung legacy service (the secondary) makes memshift degraded, not unhealthy', async () => {
  const { code, body } = await healthWhileHung('session-memory');
  expect(body.backends['session-memory']!.ok).toBe(false);
  expect(body.status).toBe('degraded');
  expect(code).toBe(200);
});

it("at off a hung legacy service (the agents' only side) makes memshift unhealthy", async () => {
  const { code, body } = await healthWhileHung('jarvis-memory');
  expect(body.backends['jarvis-memory']!.ok).toBe(false);
  expect(body.status).toBe('unhealthy');
  expect(code).toBe(503);
});

it('at new-primary the orchestrator down is unhealthy: agents write there first', async () => {
  await stack.sims.down('orchestrator');
  try {
    expect((await health()).body.status).toBe('unhealthy');
  } finally {
    await stack.sims.up('orchestrator');
  }
});

it("an orchestrator slower than a second but within its calls' deadline is healthy, and polling /healthz does not open its breaker", async () => {
  // Back from the test before, if it ran.
  await waitUntil(async () => (await health()).body.status === 'healthy', 20_000, 'healthy to begin with');
  // 1.3 s per call, under the 2 s deadline: agents are answered. Probes with a shorter deadline of their own took it
  // for dead, and their timeouts, counted by the breaker, refused the agents' calls.
  await stack.sims.applyFaults('orchestrator', { latencyMs: 1_300 });
  try {
    for (let i = 0; i < 4; i++) {
      const { body } = await health();
      expect(body.backends.orchestrator).toMatchObject({ ok: true, breaker: 'closed' });
      expect(body.status).toBe('healthy');
    }
    const reply = await requestOnce(stack.proxy.fronts['session-memory']!, { action: 'create_session', session_id: 'slow-orchestrator', user_id: 'u' }, 15_000);
    expect(JSON.parse(reply.toString('utf8'))).toMatchObject({ status: 'success' });
  } finally {
    await stack.sims.applyFaults('orchestrator', { latencyMs: 0 });
  }
});
