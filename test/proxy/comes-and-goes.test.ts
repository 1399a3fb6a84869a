/**
 * A legacy service that is not there yet when memshift starts, and one that comes and goes as the deployed
 * JarvisMemoryAgent does (exits when idle, restarted by a supervisor): agents get the service's own replies,
 * never a memshift error. MEMSHIFT_COMES_AND_GOES_S lengthens the run (the acceptance ran it for 60 s).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startProxy, type Proxy } from '../../src/proxy.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { freshDatabaseUrl } from '../support/database.js';
import { configFor, startSims } from '../support/stack.js';
import { ReqClient } from '../support/zmq-client.js';

const RUN_MS = Number(process.env.MEMSHIFT_COMES_AND_GOES_S ?? 8) * 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let sims: SimHandle;
let proxy: Proxy;

beforeAll(async () => {
  sims = await startSims();
  // Not there when memshift starts: it comes up a second later.
  await sims.down('jarvis-memory');
  proxy = await startProxy(configFor(sims, await freshDatabaseUrl()));
});

afterAll(async () => {
  await proxy?.close();
  await sims?.close();
});

it('answers from a service that starts after memshift and from one that restarts every few seconds', async () => {
  const agent = new ReqClient(proxy.fronts['jarvis-memory']!, 10_000);
  const replies: unknown[] = [];
  let n = 0;
  try {
    const late = (async () => {
      await sleep(1000);
      await sims.up('jarvis-memory');
    })();
    // The first request waits for the service's first appearance.
    replies.push(await agent.call({ action: 'add_memory', user_id: 'cg', memory: { n: n++ } }));
    await late;
    const until = Date.now() + RUN_MS;
    let restarts = 0;
    while (Date.now() < until) {
      // Idle between an agent's requests, the agent exits (it does so only when idle: nothing is in flight) and its
      // supervisor restarts it half a second later; the next request arrives while it is away.
      if (n % 5 === 0) {
        restarts++;
        await sims.down('jarvis-memory');
        void sleep(500).then(() => sims.up('jarvis-memory'));
        await sleep(200);
      }
      replies.push(await agent.call({ action: 'add_memory', user_id: 'cg', memory: { n: n++ } }));
      replies.push(await agent.call({ action: 'get_memories', user_id: 'cg' }));
      await sleep(150);
    }
    expect(restarts).toBeGreaterThanOrEqual(2);
  } finally {
    agent.close();
  }
  const errors = replies.filter((r) => (r as { status?: string }).status !== 'ok');
  expect(errors).toEqual([]);
  const last = replies.at(-1) as { memories: { memory: { n: number } }[] };
  expect(last.memories.map((m) => m.memory.n)).toEqual([...Array(n).keys()]);
}, 120_000);
