/**
 * Two replicas on one store, one of them configured otherwise (a rollout half done): each names the difference in
 * /admin/status and `memshift status`, and /metrics gauges it for the alert.
 */
import { expect, it } from 'vitest';
import { flagName } from '../../src/flags/names.js';
import { useReplicas } from '../support/replicas.js';
import { waitUntil } from '../outbox/support.js';
import { command as statusCommand } from '../../src/commands/status.js';
import { runCommand } from '../support/cli.js';

const TOKEN = 'fleet-status-token';
const replicas = useReplicas({ [flagName('session-memory', 'dual-write')]: { enabled: true } }, 2, (i) => ({
  admin: { token: TOKEN },
  outbox: { keyOrder: i === 0 ? 'replicas' : 'replica', fleetEveryMs: 250 },
}));

type Fleet = { live: number; disagreements: string[] };
const fleetOf = async (i: number): Promise<Fleet> => {
  const res = await fetch(`${replicas.proxies()[i]!.httpUrl}/admin/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return ((await res.json()) as { fleet: Fleet }).fleet;
};

it('names the setting live replicas differ on, in /admin/status and as a gauge', async () => {
  let seen: Fleet[] = [];
  await waitUntil(
    async () => {
      seen = await Promise.all([fleetOf(0), fleetOf(1)]);
      return seen.every((f) => f.live === 2 && f.disagreements.length > 0);
    },
    20_000,
    'both replicas see the other',
    async () => JSON.stringify(seen),
  );
  expect(seen[0]!.disagreements).toEqual([expect.stringMatching(/^outbox\.keyOrder: replicas here, replica on \S+$/)]);
  expect(seen[1]!.disagreements).toEqual([expect.stringMatching(/^outbox\.keyOrder: replica here, replicas on \S+$/)]);
  const metrics = await (await fetch(`${replicas.proxies()[0]!.httpUrl}/metrics`)).text();
  expect(metrics).toMatch(/^memshift_fleet_disagreements(\{[^}]*\})? 1$/m);
  // `memshift status` ends with them.
  const out = (await runCommand(statusCommand, ['--proxy', replicas.proxies()[0]!.httpUrl, '--token', TOKEN])).out.trim().split('\n');
  expect(out.slice(-2)).toEqual([
    'replicas on its store: 2, CONFIGURED APART:',
    expect.stringMatching(/^ {2}outbox\.keyOrder: replicas here, replica on \S+$/),
  ]);
});
