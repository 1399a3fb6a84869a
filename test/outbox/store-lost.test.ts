/**
 * The state store lost with its host and another in its place (a failover): every connection memshift has goes
 * silent for good, closed by no one, while new ones are served. memshift must give the silent ones up and carry on
 * on new ones: held writes stored, the outbox drained, both sides equal, healthy again.
 */
import pg from 'pg';
import { expect, it } from 'vitest';
import { useRelayedStack } from './relayed.js';
import { drainWithin, expectBothSidesEqual, openRows, outboxLeft, sleep, waitUntil, WriteLoad } from './support.js';

// Silent connections given up after 3 s rather than the defaults (30 s, 60 s): the same path, sooner.
const stack = useRelayedStack([], { config: { outbox: { statementTimeoutMs: 3_000 }, store: { statementTimeoutMs: 3_000 } } });

it('gives up the connections a lost store left silent and stores every write on new ones', async () => {
  const [sims, proxy, url, relay] = [stack.sims(), stack.proxy(), stack.url(), stack.relay()];
  const load = new WriteLoad({ prefix: 'storelost', agents: 8, intervalMs: 100, endpoint: () => proxy.fronts['session-memory']! });
  await sleep(1_500);
  // The lost store's sessions, and the locks they held, end with its host; its replacement knows none of them.
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await relay.loseServer(admin);
  await admin.end();
  await sleep(8_000);
  await load.stop();
  // Each wait bounded and saying what is left, so that a stuck outbox fails where it sticks, not at the test's timeout
  // (a clean-clone run, on a host slower by half, once ran out of the test's 180 s with nothing said).
  const left = outboxLeft(proxy.runner.secondary, url);
  await waitUntil(async () => (await proxy.runner.secondary.stats()).memoryQueued === 0, 60_000, 'held writes stored', left);
  await drainWithin(proxy.runner.secondary, 45_000, left);
  await waitUntil(async () => (await openRows(url)).open === 0, 45_000, 'outbox drained', left);
  expect(load.errors, load.report).toBe(0);
  expect(await proxy.runner.secondary.stats()).toMatchObject({ storeUp: true, memoryQueued: 0, depth: 0, parked: 0 });
  expectBothSidesEqual(sims, load);
  const health = async () => ((await (await fetch(`${proxy.httpUrl}/healthz`, { signal: AbortSignal.timeout(10_000) })).json()) as { status: string }).status;
  await waitUntil(async () => (await health()) === 'healthy', 30_000, 'healthy again');
}, 240_000);
