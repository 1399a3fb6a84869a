/** `memshift config check` against real backends: all there passes; a dead legacy port fails, named; a bad key is refused, named. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { command } from '../../src/commands/config.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { SIM_SERVICES } from '../../src/tools/sim/services.js';
import { runCommand } from '../support/cli.js';
import { freshDatabaseUrl } from '../support/database.js';
import { startSims } from '../support/stack.js';

let sims: SimHandle;
let sets: string[];

beforeAll(async () => {
  sims = await startSims();
  sets = [
    `store.url=${await freshDatabaseUrl()}`,
    `orchestrator.endpoint=${sims.endpoints.orchestrator}`,
    ...SIM_SERVICES.map((s) => `services.${s}.legacy.endpoint=${sims.endpoints[s]}`),
  ];
});
afterAll(async () => {
  await sims?.close();
});

const check = (extra: string[] = []) => runCommand(command, ['check', ...[...sets, ...extra].flatMap((s) => ['--set', s])]);

it('passes when the store, every legacy service, the orchestrator and the flags file answer', async () => {
  const { code, out } = await check();
  expect(out).toMatch(/^configuration: valid$/m);
  for (const s of SIM_SERVICES) expect(out).toMatch(new RegExp(`^ok +${s} legacy tcp://`, 'm'));
  expect(out).toMatch(/^ok +orchestrator tcp:/m);
  expect(out).toMatch(/^ok +state store postgres/m);
  // Reconcile's inputs are not configured here: warnings, not failures.
  expect(out).toMatch(/^warn +orchestrator database for reconcile/m);
  // session-memory's agent stamps local times, in a zone memshift cannot ask it for.
  expect(out).toMatch(/^warn +session-memory times local to memshift's own zone, \S+: services\.session-memory\.timeZone not set/m);
  expect(out).not.toMatch(/jarvis-memory times/);
  expect(code).toBe(0);
});

it("takes a service's time zone from its config, and refuses a zone that is none", async () => {
  const { code, out } = await check(['services.session-memory.timeZone=Asia/Manila']);
  expect(out).toMatch(/^ok +session-memory times local to Asia\/Manila$/m);
  expect(code).toBe(0);
  await expect(check(['services.session-memory.timeZone=Mars/Olympus'])).rejects.toThrow(/services\.session-memory\.timeZone: must be an IANA time zone/);
});

it('fails, naming it, when a legacy service does not answer', async () => {
  const { code, out } = await check(['services.jarvis-memory.legacy.endpoint=tcp://127.0.0.1:1']);
  expect(out).toMatch(/^FAIL +jarvis-memory legacy tcp:\/\/127\.0\.0\.1:1: no reply within/m);
  expect(out).toMatch(/1 required check\(s\) failed/);
  expect(code).toBe(1);
});

it('refuses an invalid configuration, naming the key', async () => {
  await expect(check(['services.jarvis-memory.legacy.endpoint=nope'])).rejects.toThrow(/services\.jarvis-memory\.legacy\.endpoint/);
});
