/**
 * For the give-up tests: one service's stack at dual-write with an agent on memshift, and the walk that leaves both
 * sides behind (a write served at complete, then one under the kill switch), each side's gap seen stored; the lines
 * of the file a give-up keeps what it drops in.
 */
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect } from 'vitest';
import type { Edits } from '../../src/flags/edit.js';
import { flagName, KILL_SWITCH } from '../../src/flags/names.js';
import type { ServiceName } from '../../src/services/registry.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { startFlaggedStack, type FlaggedStack } from './flagged-stack.js';
import { configFor, startSims } from './stack.js';
import { ReqClient } from './zmq-client.js';

/** The flags of the stages the walk goes through. */
export function stagesOf(service: ServiceName): { DUAL: Edits; NEW_PRIMARY: Edits; COMPLETE: Edits } {
  const DUAL: Edits = { [flagName(service, 'dual-write')]: { enabled: true } };
  const NEW_PRIMARY: Edits = { ...DUAL, [flagName(service, 'new-primary')]: { enabled: true } };
  return { DUAL, NEW_PRIMARY, COMPLETE: { ...NEW_PRIMARY, [flagName(service, 'legacy-off')]: { enabled: true } } };
}

/** The file's stack (started before its tests, closed after them) and its agent, as getters. */
export function useBothBehindStack(service: ServiceName, prefix: string): { stack(): FlaggedStack<SimHandle>; agent(): ReqClient } {
  let stack: FlaggedStack<SimHandle> | undefined;
  let agent: ReqClient | undefined;
  beforeAll(async () => {
    stack = await startFlaggedStack({
      service,
      prefix,
      flags: stagesOf(service).DUAL,
      sims: (storage) => startSims({ storage }),
      config: (on) => configFor(on.sims, on.url, { reconcile: { legacyDataDir: on.dir, orchestratorDatabaseUrl: on.url, recheckDelayMs: 300 } }),
    });
    agent = new ReqClient(stack.proxy.fronts[service]!, 5000);
  }, 60_000);
  afterAll(async () => {
    agent?.close();
    await stack?.close();
  });
  return { stack: () => stack!, agent: () => agent! };
}

/** From dual-write: `atComplete` writes served at complete (legacy's gap), then `underKill` under the kill switch (the orchestrator's). */
export async function leaveBothBehind(
  stack: FlaggedStack<SimHandle>,
  service: ServiceName,
  atComplete: () => Promise<void>,
  underKill: () => Promise<void>,
): Promise<void> {
  const { COMPLETE } = stagesOf(service);
  await stack.proxy.runner.secondary.drain();
  await stack.setFlags(COMPLETE, 'complete');
  const completeAt = Date.now();
  await atComplete();
  expect(await stack.gapAt('legacy')).toBeGreaterThanOrEqual(completeAt);
  await stack.setFlags({ ...COMPLETE, [KILL_SWITCH]: { enabled: true } }, 'killed');
  const killedAt = Date.now();
  await underKill();
  expect(await stack.gapAt('new')).toBeGreaterThanOrEqual(killedAt);
}

/** A line of a give-up's file (GivenUpFile), as parsed. */
export type KeptLine = Record<string, unknown> & { key: string; side: string; given_up: Record<string, unknown>; requests: unknown[] };

/** The lines of a give-up's file, parsed; none while it does not exist. */
export const keptLines = (path: string): KeptLine[] =>
  existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as KeptLine)
    : [];
