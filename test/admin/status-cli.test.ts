/** `memshift status` against a running proxy: one row per service with its stage, guard and window figures, behind the admin token. */
import { expect, it } from 'vitest';
import { command } from '../../src/commands/status.js';
import { SIM_SERVICES } from '../../src/tools/sim/services.js';
import { SHADOW_ALL, startMigrationStack } from '../support/migration.js';
import { runTraffic } from '../../src/tools/demo/traffic.js';
import { runCommand } from '../support/cli.js';

const status = async (args: string[]) => (await runCommand(command, args)).out;

it('prints every service with its stage, guard state and window figures; refuses without the token', async () => {
  const stack = await startMigrationStack(SHADOW_ALL, { admin: { token: 'status-token' }, guard: { enabled: true, addedLatencyMs: { threshold: 60_000 } } });
  try {
    await runTraffic({ fronts: stack.proxy.fronts, agents: 4, requests: 300, prefix: 'st', seed: 2 });
    await expect(status(['--proxy', stack.proxy.httpUrl])).rejects.toThrow(/401/);
    const lines = (await status(['--proxy', stack.proxy.httpUrl, '--token', 'status-token'])).trim().split('\n');
    expect(lines[1]).toMatch(/^SERVICE\s+STAGE\s+READ-NEW\s+SHADOW\s+GUARD\s+COMPARED\s+MISMATCH/);
    const rows = lines.slice(2, 2 + SIM_SERVICES.length);
    expect(rows.map((r) => r.split(/\s+/)[0]).sort()).toEqual([...SIM_SERVICES].sort());
    // Then the replicas on its store: this one alone, configured alike.
    expect(lines.slice(2 + SIM_SERVICES.length)).toEqual(['replicas on its store: 1, configured alike']);
    const admin = (await (await fetch(`${stack.proxy.httpUrl}/admin/status`, { headers: { authorization: 'Bearer status-token' } })).json()) as {
      services: Record<string, { guard: { figures: { compared: number } } }>;
    };
    for (const row of rows) {
      const [service, stage, readNew, shadow, guard, compared] = row.split(/\s+/);
      expect([stage, readNew, shadow, guard]).toEqual(['shadow', 'off', '100%', 'watching']);
      // The window moves on between the two reads: the same order of magnitude, counted by the same guard.
      expect(Number(compared)).toBeGreaterThan(0);
      expect(Math.abs(Number(compared) - admin.services[service!]!.guard.figures.compared)).toBeLessThan(50);
    }
  } finally {
    await stack.close();
  }
});
