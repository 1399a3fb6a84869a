/**
 * The barrier that settles an unknown outcome, against a real REP backend answering one request at a time: on one
 * slower than the leg's timeout over a round of pings it still ends (it had failed every time, its pings timing out in
 * the backend's queue and adding to it); a hung one fails it, and a gone connection's queued requests are worked off
 * before it ends.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { callOptionsOf, parseConfig } from '../../src/config.js';
import { createLeg } from '../../src/legs/index.js';
import type { Leg } from '../../src/legs/types.js';
import { Resolver } from '../../src/outbox/resolve.js';
import type { Translator } from '../../src/services/types.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { startSims } from '../support/stack.js';

const PER_REQUEST_MS = 80;
const TIMEOUT_MS = 1_000;
const BOUND = 64;

let sims: SimHandle;
const legs: Leg[] = [];

beforeAll(async () => {
  sims = await startSims({ faults: { orchestrator: { latencyMs: PER_REQUEST_MS } } });
}, 60_000);
afterAll(async () => {
  await Promise.all(legs.map((l) => l.close()));
  await sims?.close();
});

function legToOrchestrator(): Leg {
  const config = parseConfig({});
  const leg = createLeg(sims.endpoints.orchestrator, {
    ...callOptionsOf(config, config.orchestrator, 'new'),
    timeoutMs: TIMEOUT_MS,
    maxInFlight: BOUND,
    waitForConnection: true,
  });
  legs.push(leg);
  return leg;
}

function resolverOn(leg: Leg): Resolver {
  return new Resolver({
    sides: () => ({ legacy: leg, newLeg: leg, translator: {} as Translator }),
    appliedOn: () => Promise.resolve([]),
    barrierPings: () => BOUND + 1,
  });
}

const health = JSON.stringify({ action: 'health_check', request_id: 'h' });

it(`ends on a backend taking ${PER_REQUEST_MS} ms a request, though a round of pings takes longer than the leg's ${TIMEOUT_MS} ms timeout`, async () => {
  const leg = legToOrchestrator();
  await leg.call(health);
  await expect(resolverOn(leg).settle('session-memory', 'new', Date.now())).resolves.toBeUndefined();
  // Not left in the backend's queue either: a call right after is answered in time.
  await expect(leg.call(health)).resolves.toBeInstanceOf(Buffer);
}, 60_000);

it("works off a gone connection's queued requests before it ends", async () => {
  const gone = legToOrchestrator();
  await gone.call(health);
  // Each reply then says how many the backend has answered.
  await sims.applyFaults('orchestrator', { counterField: 'answered' });
  const served = async () => (JSON.parse((await gone.call(health)).toString()) as { answered: number }).answered;
  const before = await served();
  const queued = Array.from({ length: 40 }, () => gone.call(health).catch(() => undefined));
  await gone.close();
  await Promise.all(queued);
  const leg = legToOrchestrator();
  await resolverOn(leg).settle('session-memory', 'new', Date.now());
  // Each of the gone connection's 40 was answered by then (the backend takes its connections' requests in turn): the
  // count the next reply gives has them all, and the barrier's pings.
  const after = (JSON.parse((await leg.call(health)).toString()) as { answered: number }).answered;
  expect(after - before).toBeGreaterThanOrEqual(40 + BOUND + 1);
  await sims.applyFaults('orchestrator', { counterField: '' });
}, 60_000);

it('fails on a hung backend, rather than waiting on it', async () => {
  const leg = legToOrchestrator();
  await leg.call(health);
  await sims.applyFaults('orchestrator', { hang: true });
  try {
    await expect(resolverOn(leg).settle('session-memory', 'new', Date.now())).rejects.toThrow(/no reply within/);
  } finally {
    await sims.applyFaults('orchestrator', { hang: false });
  }
}, 60_000);
