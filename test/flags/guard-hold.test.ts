/**
 * After the guard rolls a service back, flags from a file that move it on (read-new turned on, by `memshift flags ramp`)
 * send no read to the orchestrator until a person resumes the guard (`memshift guard resume`); then they do. The
 * control and `memshift status` say so.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { SimHandle } from '../../src/tools/sim/index.js';
import type { ServedEvent } from '../../src/plan/observer.js';
import { flagName } from '../../src/flags/names.js';
import { ReqClient } from '../support/zmq-client.js';
import { configFor, startSims } from '../support/stack.js';
import { startFlaggedStack, type FlaggedStack } from '../support/flagged-stack.js';
import { waitUntil } from '../outbox/support.js';
import { flagsCli } from './helpers.js';
import { runCommand } from '../support/cli.js';
import { command as guardCommand } from '../../src/commands/guard.js';
import { command as statusCommand } from '../../src/commands/status.js';

const S = 'jarvis-memory' as const;
const SHADOW = { [flagName(S, 'dual-write')]: { enabled: true }, [flagName(S, 'shadow-read')]: { enabled: true, rollout: 100 } };
const USERS = Array.from({ length: 30 }, (_, i) => `hold-${i}`);
const TOKEN = 'guard-hold';

let stack: FlaggedStack<SimHandle>;
const served: ServedEvent[] = [];

beforeAll(async () => {
  stack = await startFlaggedStack({
    service: S,
    prefix: 'memshift-guard-hold-',
    flags: SHADOW,
    sims: (storage) => startSims({ storage }),
    config: ({ sims, url }) => configFor(sims, url, { guard: { mismatchRate: { threshold: 0.01, minSamples: 10 } }, admin: { token: TOKEN } }),
    observers: [{ served: (e) => served.push(e) }],
  });
});
afterAll(async () => {
  await stack?.close();
});

/** Each user read once through the front; the sides that served them. */
async function readAll(): Promise<string[]> {
  served.length = 0;
  const c = new ReqClient(stack.proxy.fronts[S]!);
  try {
    for (const u of USERS) expect(await c.call({ action: 'get_memories', user_id: u })).toMatchObject({ status: 'ok' });
  } finally {
    c.close();
  }
  return served.map((e) => e.side);
}

it('holds reads on legacy after a rollback, whatever the file turns on, until a person resumes', async () => {
  const ramp = (...more: string[]) => flagsCli(['ramp', S, 'read-new', '100', '--file', stack.temp.file, '--set', `store.url=${stack.url}`, ...more]);
  const before = await ramp('--dry-run');
  // Every user's memory stored altered on the orchestrator: each compared read mismatches.
  await stack.sims.applyFaults('orchestrator', { divergence: { rate: 1, mode: 'alter' } });
  const c = new ReqClient(stack.proxy.fronts[S]!);
  for (const u of USERS) await c.call({ action: 'add_memory', user_id: u, memory: { text: `note of ${u}` } });
  c.close();
  await stack.proxy.runner.secondary.drain();
  await stack.sims.applyFaults('orchestrator', { divergence: { rate: 0 } });

  await readAll();
  await waitUntil(() => stack.proxy.guard!.tripped().includes(S), 30_000, 'the guard to roll jarvis-memory back');

  // The person moves the service on in the file (reads from the orchestrator, still all compared) without resuming;
  // the control, given the shared store, says the guard holds the service (and said nothing before the rollback).
  expect(before.out).not.toMatch(/guard/);
  // The guard stores its rollback right after acting on it.
  await waitUntil(async () => /guard holds/.test((await ramp('--dry-run')).out), 30_000, 'the rollback to be stored');
  const { out } = await ramp();
  expect(out).toMatch(/memshift\.jarvis-memory\.read-new\s+off\s+->\s+on 100%/);
  expect(out).toMatch(/the guard holds jarvis-memory back since .* \(rolled back at shadow\)/);
  await waitUntil(() => stack.flags.definition(flagName(S, 'read-new')).enabled, 30_000, 'the flags file to be read again');
  expect(await readAll()).toEqual(USERS.map(() => 'legacy'));
  expect(stack.proxy.guard!.tripped()).toEqual([S]);

  // The running proxy's status says why and how to resume; a person resumes with the command.
  const proxy = ['--proxy', stack.proxy.httpUrl, '--token', TOKEN];
  const held =
    /jarvis-memory: GUARD HOLDS IT BACK since \S+ \(rolled back at shadow: mismatchRate [\d.]+% > 1\.00% \(\d+ samples\)\): .*memshift guard resume jarvis-memory/;
  expect((await runCommand(statusCommand, proxy)).out).toMatch(held);
  const resumed = await runCommand(guardCommand, ['resume', S, ...proxy]);
  expect(resumed.out).toMatch(/^jarvis-memory: resumed: the guard had held it back since \S+ \(rolled back at shadow: mismatchRate /);
  expect(resumed.out).toMatch(/jarvis-memory: stage cutover as the flags say/);
  expect((await runCommand(statusCommand, proxy)).out).not.toMatch(/GUARD HOLDS/);
  // Today's report lists the resume after the rollback, and its verdict says when it came.
  const report = async () =>
    (await fetch(`${stack.proxy.httpUrl}/admin/reports/${new Date().toISOString().slice(0, 10)}.md`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
  await waitUntil(async () => /resumed by a person/.test(await report()), 30_000, 'the resume stored and in the report');
  expect(await report()).toMatch(/guard tripped 1 time\(s\), last at \d\d:\d\d UTC \(mismatchRate\); a person resumed it at \d\d:\d\d UTC/);
  expect((await runCommand(guardCommand, ['resume', S, ...proxy])).out).toMatch(/not holding it back \(watching\): nothing to resume/);
  await expect(runCommand(guardCommand, ['resume', S, '--proxy', stack.proxy.httpUrl, '--token', 'wrong'])).rejects.toThrow(/HTTP 401/);

  // Resumed: the file's stage holds, reads go to the orchestrator and are compared; its data being still altered,
  // the guard rolls the service back again within a few reads.
  const sides = await readAll();
  expect(sides[0]).toBe('new');
  expect(stack.proxy.guard!.tripped()).toEqual([S]);
  expect(sides.at(-1)).toBe('legacy');
});
