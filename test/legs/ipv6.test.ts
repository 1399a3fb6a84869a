/**
 * Endpoints written as IPv6 addresses (a Kubernetes cluster on IPv6, its Service addresses in brackets): libzmq
 * binds and dials them only with its ipv6 option, and without it a leg dials forever in silence (every call timing
 * out) and a front refuses to start. The agent and memshift's front here speak over ::1, memshift and the legacy
 * agent (Python, pyzmq) too; the orchestrator stays on IPv4.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { command } from '../../src/commands/config.js';
import { flagName } from '../../src/flags/names.js';
import { freePort } from '../../src/util/ports.js';
import type { Child } from '../../src/tools/bench/processes.js';
import { startPythonAgent } from '../support/python-agent.js';
import { on, rollout } from '../flags/helpers.js';
import { runCommand } from '../support/cli.js';
import { quiesce, startMigrationStack, type MigrationStack } from '../support/migration.js';
import { ReqClient } from '../support/zmq-client.js';

const S = 'session-memory' as const;

let agent: Child;
let legacyEndpoint: string;
let stack: MigrationStack;

beforeAll(async () => {
  legacyEndpoint = `tcp://[::1]:${await freePort()}`;
  agent = await startPythonAgent(S, legacyEndpoint);
  stack = await startMigrationStack(
    { ...on(flagName(S, 'dual-write')), ...rollout(flagName(S, 'shadow-read'), 100) },
    { services: { [S]: { front: 'tcp://[::1]:*', legacy: { endpoint: legacyEndpoint, timeoutMs: 5000 } } } },
  );
}, 60_000);
afterAll(async () => {
  await stack?.close();
  await agent?.stop();
});

it('serves an agent on an IPv6 front from a legacy agent on an IPv6 address, and compares', async () => {
  const front = stack.proxy.fronts[S]!;
  expect(front).toMatch(/^tcp:\/\/\[::1\]:\d+$/);
  const client = new ReqClient(front);
  try {
    expect(await client.call({ action: 'create_session', session_id: 'v6' })).toMatchObject({ status: 'success', session_id: 'v6' });
    expect(await client.call({ action: 'add_interaction', session_id: 'v6', role: 'user', content: 'over ::1' })).toMatchObject({ status: 'success' });
    await stack.proxy.runner.secondary.drain();
    const reply = (await client.call({ action: 'get_context', session_id: 'v6' })) as { context: { content: string }[] };
    expect(reply.context.map((e) => e.content)).toEqual(['over ::1']);
  } finally {
    client.close();
  }
  await quiesce(stack.proxy, [S]);
  expect(stack.proxy.runner.stats.of(S)).toMatchObject({ errors: 0, compared: 1, mismatches: 0, secondaryOk: 2 });
});

it('config check reaches a legacy service on an IPv6 address', async () => {
  const sets = [
    `services.${S}.legacy.endpoint=${legacyEndpoint}`,
    `store.url=${stack.databaseUrl}`,
    `orchestrator.endpoint=${stack.sims.endpoints.orchestrator}`,
    ...(['contextual-memory', 'jarvis-memory'] as const).map((s) => `services.${s}.legacy.endpoint=${stack.sims.endpoints[s]}`),
  ];
  const { out } = await runCommand(command, ['check', ...sets.flatMap((s) => ['--set', s])]);
  expect(out).toContain(`ok    ${S} legacy ${legacyEndpoint}\n`);
});
