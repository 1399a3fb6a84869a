/** For a test of a turn of the side written first (src/plan/turned.ts): one service at new-primary, shadow reads on, the guard off, and an agent on its front. */
import { afterAll, beforeAll } from 'vitest';
import type { Edits } from '../../src/flags/edit.js';
import { flagName } from '../../src/flags/names.js';
import type { ServiceName } from '../../src/services/registry.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { startFlaggedStack, type FlaggedStack } from './flagged-stack.js';
import { configFor, startSims } from './stack.js';
import { ReqClient } from './zmq-client.js';

/** The service's flags at shadow and at new-primary (dual writes and shadow reads on at both). */
export function turnEdits(service: ServiceName): { SHADOW: Edits; NEW_PRIMARY: Edits } {
  const f = (kind: Parameters<typeof flagName>[1]) => flagName(service, kind);
  const SHADOW: Edits = { [f('dual-write')]: { enabled: true }, [f('new-primary')]: { enabled: false }, [f('shadow-read')]: { enabled: true, rollout: 100 } };
  return { SHADOW, NEW_PRIMARY: { ...SHADOW, [f('new-primary')]: { enabled: true } } };
}

/** Started before the file's tests, closed after them; `stack` and `agent` are set once started. */
export function useTurningStack(service: ServiceName, prefix: string): { stack: FlaggedStack<SimHandle>; agent: ReqClient } {
  const turning = {} as { stack: FlaggedStack<SimHandle>; agent: ReqClient };
  beforeAll(async () => {
    turning.stack = await startFlaggedStack({
      service,
      prefix,
      flags: turnEdits(service).NEW_PRIMARY,
      sims: (storage) => startSims({ storage }),
      config: (on) => configFor(on.sims, on.url, { report: { dir: '' }, guard: { enabled: false } }),
    });
    turning.agent = new ReqClient(turning.stack.proxy.fronts[service]!, 10_000);
  }, 60_000);
  afterAll(async () => {
    turning.agent?.close();
    await turning.stack?.close();
  });
  return turning;
}
