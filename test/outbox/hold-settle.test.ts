/**
 * A dead holder's hold on a key, taken over while the side it rewrote hangs (the orchestrator behind a frozen TCP
 * relay: nothing forwarded either way): what the holder sent may still be queued there, so the proxy's outbox keeps
 * the key's next write back until the side has answered a barrier, and sends it once the side answers again.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startProxy, type Proxy } from '../../src/proxy.js';
import { HOLD_ACTION, OutboxTable } from '../../src/outbox/table.js';
import { openStore, type Store } from '../../src/store/index.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { freshDatabaseUrl } from '../support/database.js';
import { Relay } from '../support/relay.js';
import { configFor, startSims } from '../support/stack.js';
import { ReqClient } from '../support/zmq-client.js';
import { flagsOn } from './support.js';

const SERVICE = 'jarvis-memory';

let sims: SimHandle;
let relay: Relay;
let store: Store;
let proxy: Proxy;
let disposeFlags: (() => Promise<void>) | undefined;

beforeAll(async () => {
  sims = await startSims();
  const at = new URL(sims.endpoints.orchestrator.replace('tcp://', 'http://'));
  relay = await Relay.start({ host: at.hostname, port: Number(at.port) });
  const url = await freshDatabaseUrl();
  store = await openStore({ url });
  const flags = await flagsOn(SERVICE, 'dual-write');
  disposeFlags = flags.dispose;
  proxy = await startProxy(configFor(sims, url, { flags: { file: flags.file }, orchestrator: { endpoint: `tcp://127.0.0.1:${relay.port}`, timeoutMs: 500 } }));
}, 60_000);

afterAll(async () => {
  await proxy?.close();
  await relay?.close();
  await sims?.close();
  await store?.close();
  await disposeFlags?.();
});

const statusOf = async (id: string) => (await store.pool.query<{ status: string }>('SELECT status FROM outbox WHERE id = $1', [id])).rows[0]?.status;

it("keeps a dead holder's key held while the side it rewrote hangs, and lets the key's writes go once it answers", async () => {
  const key = 'u-held-in-a-hang';
  const client = new ReqClient(proxy.fronts[SERVICE]!, 5000);
  try {
    // The orchestrator answers: the proxy's connection to it is up before the hang.
    expect(await client.call({ action: 'add_memory', user_id: 'u-before', memory: 'before' })).toMatchObject({ status: 'ok' });
    await expect.poll(() => sims.models.orchestrator.memories.size, { timeout: 10_000 }).toBe(1);
    relay.freeze();
    const hold = { id: randomUUID(), service: SERVICE, key, action: HOLD_ACTION, side: 'new' as const, raw: Buffer.alloc(0), effect: 'neutral' };
    await new OutboxTable(store.pool).insert({ ...hold, createdAt: new Date() }, 200, true, 'a backfill killed mid-rewrite');
    expect(await client.call({ action: 'add_memory', user_id: key, memory: 'during the hang' })).toMatchObject({ status: 'ok' });
    // Its lease ran out long since, and the outbox has tried it: still open, the write behind it unsent.
    await sleep(3_000);
    expect(await statusOf(hold.id)).not.toBe('done');
    relay.thaw();
    await expect.poll(() => statusOf(hold.id), { timeout: 30_000 }).toBe('done');
    await expect.poll(() => sims.models.orchestrator.memories.size, { timeout: 30_000 }).toBe(2);
  } finally {
    client.close();
  }
}, 60_000);
