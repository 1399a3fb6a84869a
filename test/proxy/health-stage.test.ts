/** /healthz follows the stage: legacy hung is unhealthy while agents depend on it, degraded once it is only the secondary. */
import { afterAll, beforeAll, expect, it } from 'vitest';
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
  return { code: res.status, body: (await res.json()) as { status: string; backends: Record<string, { ok: boolean }> } };
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
