/**
 * `reconcile --repair --give-up-missed FILE` killed with SIGKILL midway, then run again: every write given up is in the
 * file (kept before its key was rewritten, so none is lost from both), and legacy ends like the orchestrator.
 */
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { startChild } from '../../src/tools/bench/processes.js';
import { send } from '../sim/helpers.js';
import { keptLines, leaveBothBehind, stagesOf, useBothBehindStack } from '../support/both-behind.js';

const S = 'jarvis-memory' as const;
const USERS = 24;
const { NEW_PRIMARY } = stagesOf(S);
const on = useBothBehindStack(S, 'memshift-give-up-crash-');
const users = Array.from({ length: USERS }, (_, u) => `k${String(u).padStart(2, '0')}`);

const adds = async (user: string, memory: string) =>
  expect(await on.agent().call({ action: 'add_memory', user_id: user, memory })).toMatchObject({ status: 'ok' });
const legacyHolds = async (user: string) =>
  ((await send(on.stack().sims.endpoints[S], { action: 'get_memories', user_id: user })) as { memories: { memory: string }[] }).memories.map((m) => m.memory);

/** `memshift reconcile --repair --give-up-missed FILE` on this stack, as its own process. */
function giveUp(keepIn: string) {
  const stack = on.stack();
  const settings = Object.entries({
    'store.url': stack.config.store.url!,
    'orchestrator.endpoint': stack.sims.endpoints.orchestrator,
    [`services.${S}.legacy.endpoint`]: stack.sims.endpoints[S],
    'reconcile.legacyDataDir': stack.dir,
    'reconcile.orchestratorDatabaseUrl': stack.url,
    'reconcile.holdLeaseMs': '2000',
    'flags.file': stack.temp.file,
  }).flatMap(([k, v]) => ['--set', `${k}=${v}`]);
  return startChild(['reconcile', '--repair', '--give-up-missed', keepIn, '--service', S, ...settings]);
}

it('kept before each key is rewritten: a run killed midway and the run after it keep every write given up', async () => {
  const stack = on.stack();
  const addAll = (memory: string) => async () => {
    for (const u of users) await adds(u, memory);
  };
  await addAll('before')();
  await leaveBothBehind(stack, S, addAll('at complete'), addAll('under the kill switch'));
  await stack.setFlags(NEW_PRIMARY, 'new-primary');

  // Legacy slowed so that the repair is midway when it is killed: some keys kept and rewritten, some kept only, some not reached.
  const keepIn = join(stack.dir, 'given-up.jsonl');
  await stack.sims.applyFaults(S, { latencyMs: 150 });
  const first = giveUp(keepIn);
  try {
    await expect.poll(() => first.proc.exitCode !== null || keptLines(keepIn).length >= 3, { timeout: 30_000, interval: 20 }).toBe(true);
    expect(first.proc.exitCode, first.output()).toBeNull();
  } finally {
    await first.stop('SIGKILL');
    await stack.sims.applyFaults(S, { latencyMs: 0 });
  }
  // Killed midway: every key legacy no longer holds its kill-switch write of was kept first.
  const keptFirst = new Set(keptLines(keepIn).map((l) => l.key));
  expect(keptFirst.size).toBeLessThan(USERS);
  for (const u of users) if (!(await legacyHolds(u)).includes('under the kill switch')) expect(keptFirst, `${u} taken from legacy, not kept`).toContain(u);

  const again = giveUp(keepIn);
  // Bounded, so that a run that never ends fails with its own story rather than the test's timeout.
  const code = await Promise.race([
    new Promise<number | null>((resolve) => again.proc.once('exit', resolve)),
    new Promise<string>((resolve) => setTimeout(() => resolve('still running after 60 s'), 60_000)),
  ]);
  await again.stop('SIGKILL');
  expect(code, `${first.output()}\n---\n${again.output()}`).toBe(0);
  const given = new Map<string, Set<string>>();
  for (const { key, side, given_up } of keptLines(keepIn)) {
    expect(side).toBe('legacy');
    for (const m of given_up.memories as { memory: string }[]) given.set(key, new Set([...(given.get(key) ?? []), m.memory]));
  }
  expect(Object.fromEntries([...given].map(([k, v]) => [k, [...v]]))).toEqual(Object.fromEntries(users.map((u) => [u, ['under the kill switch']])));
  for (const u of users) expect(await legacyHolds(u), u).toEqual(['before', 'at complete']);
}, 120_000);
