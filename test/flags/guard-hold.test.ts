/**
 * After the guard rolls a service back, flags from a file that move it on (read-new turned on) send no read to the
 * orchestrator until a person resumes the guard; then they do.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startProxy, type Proxy } from '../../src/proxy.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import type { ServedEvent } from '../../src/plan/observer.js';
import { flagName } from '../../src/flags/names.js';
import type { Flags } from '../../src/flags/source.js';
import { TempFlags } from './helpers.js';
import { ReqClient } from '../support/zmq-client.js';
import { freshDatabaseUrl } from '../support/database.js';
import { configFor, startSims } from '../support/stack.js';
import { waitUntil } from '../outbox/support.js';

const S = 'jarvis-memory' as const;
const SHADOW = { [flagName(S, 'dual-write')]: { enabled: true }, [flagName(S, 'shadow-read')]: { enabled: true, rollout: 100 } };
const USERS = Array.from({ length: 30 }, (_, i) => `hold-${i}`);

let sims: SimHandle;
let proxy: Proxy;
let flags: Flags;
let temp: TempFlags;
const served: ServedEvent[] = [];

beforeAll(async () => {
  sims = await startSims();
  temp = await TempFlags.create(SHADOW);
  flags = await temp.open();
  const config = configFor(sims, await freshDatabaseUrl(), { guard: { mismatchRate: { threshold: 0.01, minSamples: 10 } } });
  proxy = await startProxy(config, { flags, observers: [{ served: (e) => served.push(e) }] });
});
afterAll(async () => {
  await proxy?.close();
  await proxy?.store.close();
  await temp?.dispose();
  await sims?.close();
});

/** Each user read once through the front; the sides that served them. */
async function readAll(): Promise<string[]> {
  served.length = 0;
  const c = new ReqClient(proxy.fronts[S]!);
  try {
    for (const u of USERS) expect(await c.call({ action: 'get_memories', user_id: u })).toMatchObject({ status: 'ok' });
  } finally {
    c.close();
  }
  return served.map((e) => e.side);
}

it('holds reads on legacy after a rollback, whatever the file turns on, until a person resumes', async () => {
  // Every user's memory stored altered on the orchestrator: each compared read mismatches.
  await sims.applyFaults('orchestrator', { divergence: { rate: 1, mode: 'alter' } });
  const c = new ReqClient(proxy.fronts[S]!);
  for (const u of USERS) await c.call({ action: 'add_memory', user_id: u, memory: { text: `note of ${u}` } });
  c.close();
  await proxy.runner.secondary.drain();
  await sims.applyFaults('orchestrator', { divergence: { rate: 0 } });

  await readAll();
  await waitUntil(() => proxy.guard!.tripped().includes(S), 30_000, 'the guard to roll jarvis-memory back');

  // The person moves the service on in the file (reads from the orchestrator, still all compared) without resuming.
  await temp.write({ ...SHADOW, [flagName(S, 'read-new')]: { enabled: true, rollout: 100 } });
  await waitUntil(() => flags.definition(flagName(S, 'read-new')).enabled, 30_000, 'the flags file to be read again');
  expect(await readAll()).toEqual(USERS.map(() => 'legacy'));
  expect(proxy.guard!.tripped()).toEqual([S]);

  // Resumed: the file's stage holds, reads go to the orchestrator and are compared; its data being still altered,
  // the guard rolls the service back again within a few reads.
  proxy.guard!.resume(S);
  const sides = await readAll();
  expect(sides[0]).toBe('new');
  expect(proxy.guard!.tripped()).toEqual([S]);
  expect(sides.at(-1)).toBe('legacy');
});
