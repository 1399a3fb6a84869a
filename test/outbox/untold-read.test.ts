/**
 * A read just after jarvis-memory's turn to new-primary, of a key another replica last wrote (legacy first, its copy
 * to the orchestrator not landed: that replica's orchestrator is out of reach), while the store gives the reading replica no answer: whether that copy landed
 * cannot be told there, so the read is refused in the agent's protocol rather than answered by the orchestrator
 * without the acknowledged write (chaos seed 272: the store slow under load). With the store answering, the same read
 * is served by legacy, which has it.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Edits } from '../../src/flags/edit.js';
import { flagName } from '../../src/flags/names.js';
import { serviceSnapshot } from '../../src/flags/source.js';
import { startProxy, type Proxy } from '../../src/proxy.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { TempFlags } from '../flags/helpers.js';
import { freshDatabaseUrl } from '../support/database.js';
import { Relay } from '../support/relay.js';
import { configFor, startSims } from '../support/stack.js';
import { ReqClient } from '../support/zmq-client.js';
import { queryOnce, waitUntil } from './support.js';
import { JARVIS_DUAL_WRITE, JARVIS_NEW_PRIMARY } from './unknown-support.js';

const J = 'jarvis-memory';
const USER = 'untold';
let sims: SimHandle;
let url: string;
let relay: Relay;
const relays: Relay[] = [];
const SHADOWED: Edits = { ...JARVIS_DUAL_WRITE, [flagName(J, 'shadow-read')]: { enabled: true, rollout: 100 } };
const flags: TempFlags[] = [];
const proxies: Proxy[] = [];

/** A replica at `edits` storing at `storeUrl`, with `extra` config; a failed copy waits a minute for its next attempt, by any replica. */
async function replica(storeUrl: string, edits: Edits, extra: Record<string, unknown> = {}): Promise<{ proxy: Proxy; flags: TempFlags }> {
  const t = await TempFlags.create(edits);
  flags.push(t);
  const proxy = await startProxy(configFor(sims, storeUrl, { outbox: { baseBackoffMs: 60_000, maxBackoffMs: 60_000 }, ...extra }), { flags: await t.open() });
  proxies.push(proxy);
  return { proxy, flags: t };
}

beforeAll(async () => {
  sims = await startSims();
  url = await freshDatabaseUrl();
}, 60_000);
afterAll(async () => {
  relay?.thaw();
  await Promise.all(proxies.map((p) => p.close()));
  await relay?.close();
  await Promise.all(relays.map((x) => x.close()));
  await Promise.all(flags.map((f) => f.dispose()));
  await sims?.close();
});

const memories = (reply: unknown) => ((reply as { memories?: { memory: unknown }[] }).memories ?? []).map((m) => m.memory);

it("refuses a read about a turn that cannot learn whether another replica's copy of the key landed", async () => {
  const relayed = await Relay.before(url);
  relay = relayed.relay;
  const orchestrator = await Relay.start({ host: '127.0.0.1', port: Number(sims.endpoints.orchestrator.split(':').pop()) });
  relays.push(orchestrator);
  // The reader starts first: a replica that starts serves once the others know of it, so the reader knows the writer.
  const reader = await replica(relayed.url, SHADOWED);
  const writer = await replica(url, JARVIS_DUAL_WRITE, { orchestrator: { endpoint: `tcp://127.0.0.1:${orchestrator.port}`, timeoutMs: 2000 } });
  const [r, w] = [new ReqClient(reader.proxy.fronts[J]!, 20_000), new ReqClient(writer.proxy.fronts[J]!, 20_000)];
  const add = (n: number) => w.call({ action: 'add_memory', user_id: USER, memory: { n } });
  const read = () => r.call({ action: 'get_memories', user_id: USER });
  const open = `SELECT 1 FROM outbox WHERE key = '${USER}' AND side = 'new' AND open`;
  try {
    expect(await add(0)).toMatchObject({ status: 'ok' });
    await waitUntil(async () => (await queryOnce(url, open)).length === 0, 20_000, 'the first copied');
    // The reader serves the service before the turn (one that never did knows of no turn), its shadow read on the
    // orchestrator mapping the user there.
    expect(memories(await read())).toEqual([{ n: 0 }]);
    // The writer's orchestrator out of reach: the second write's copy stays on its way.
    orchestrator.cut();
    expect(await add(1)).toMatchObject({ status: 'ok' });
    await waitUntil(async () => (await queryOnce(url, open)).length === 1, 20_000, "the second's copy stored");
    await reader.flags.write({ ...SHADOWED, ...JARVIS_NEW_PRIMARY });
    await waitUntil(() => serviceSnapshot(reader.proxy.flags.snapshot(), J).stage === 'new-primary', 20_000, 'reader turned');
    // The store answering: the orchestrator still lacks the write, so legacy serves the read.
    expect(memories(await read())).toEqual([{ n: 0 }, { n: 1 }]);
    relay.freeze();
    const untold = (await read()) as { status?: string; reason?: string };
    relay.thaw();
    // Before: the orchestrator's answer, without the acknowledged write ({ status: 'ok', memories: [{ n: 0 }] }).
    expect(untold).toMatchObject({ status: 'error', reason: expect.stringContaining('cannot be told: read refused rather than answered stale') });
    expect(memories(await read())).toEqual([{ n: 0 }, { n: 1 }]);
    expect(await queryOnce(url, open)).toHaveLength(1);
  } finally {
    relay.thaw();
    orchestrator.restore();
    r.close();
    w.close();
  }
}, 90_000);
