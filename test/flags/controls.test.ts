/** `memshift flags set|ramp|advance|rollback|kill-switch` on a flags file, read back by the real flags source. */
import { readFile } from 'node:fs/promises';
import { afterEach, expect, it } from 'vitest';
import { flagName } from '../../src/flags/names.js';
import { flagsCli, ids, TempFlags } from './helpers.js';

const S = 'jarvis-memory' as const;
let temp: TempFlags | undefined;
afterEach(async () => {
  await temp?.dispose();
  temp = undefined;
});

/** The share of 2,000 users a fresh reader of the file serves from new. */
async function readNewShare(t: TempFlags): Promise<number> {
  const flags = await t.open();
  const users = ids('u', 2_000);
  return users.filter((u) => flags.decide(S, { userId: u }).readNew).length / users.length;
}

it('ramp jarvis-memory read-new 25: --dry-run prints before and after and changes nothing; then about 25% of users read new', async () => {
  temp = await TempFlags.create({ [flagName(S, 'dual-write')]: { enabled: true }, [flagName(S, 'shadow-read')]: { enabled: true, rollout: 100 } });
  const bytes = await readFile(temp.file, 'utf8');
  const dry = await flagsCli(['ramp', S, 'read-new', '25', '--file', temp.file, '--dry-run']);
  expect(dry.out).toMatch(/memshift\.jarvis-memory\.read-new\s+off\s+->\s+on 25%/);
  expect(dry.out).toMatch(/jarvis-memory stage\s+shadow\s+->\s+cutover/);
  expect(await readFile(temp.file, 'utf8')).toBe(bytes);
  expect(await readNewShare(temp)).toBe(0);

  expect((await flagsCli(['ramp', S, 'read-new', '25', '--file', temp.file])).code).toBe(0);
  const share = await readNewShare(temp);
  expect(share).toBeGreaterThan(0.2);
  expect(share).toBeLessThan(0.3);
  // Other services' flags are left as they were.
  const doc = JSON.parse(await readFile(temp.file, 'utf8')) as { features: { name: string; enabled: boolean }[] };
  expect(doc.features.filter((f) => f.enabled).map((f) => f.name)).toEqual([flagName(S, 'dual-write'), flagName(S, 'shadow-read'), flagName(S, 'read-new')]);
});

it('advance walks the stages; rollback sends reads back to legacy keeping dual writes; the kill switch stops everything', async () => {
  temp = await TempFlags.create();
  const stages: string[] = [];
  for (let i = 0; i < 5; i++) {
    const { out } = await flagsCli(['advance', S, '--file', temp.file]);
    stages.push(/jarvis-memory stage\s+\S+\s+->\s+(\S+)/.exec(out)![1]!);
  }
  expect(stages).toEqual(['dual-write', 'shadow', 'cutover', 'new-primary', 'complete']);
  await expect(flagsCli(['advance', S, '--file', temp.file])).rejects.toThrow(/no later stage/);

  await flagsCli(['set', S, 'legacy-off', 'off', '--file', temp.file]);
  const back = await flagsCli(['rollback', S, '--file', temp.file]);
  expect(back.out).toMatch(/jarvis-memory stage\s+new-primary\s+->\s+dual-write/);
  const flags = await temp.open();
  expect(flags.snapshot().services[S]!.stage).toBe('dual-write');

  const kill = await flagsCli(['kill-switch', 'on', '--file', temp.file]);
  expect(kill.out).toMatch(/session-memory stage\s+off\s+->\s+killed/);
  await expect(flagsCli(['advance', S, '--file', temp.file])).rejects.toThrow(/kill switch/);
});

it('refuses a bad percentage, service or flag with a message naming it', async () => {
  temp = await TempFlags.create();
  await expect(flagsCli(['ramp', S, 'read-new', '101', '--file', temp.file])).rejects.toThrow(/0 to 100/);
  await expect(flagsCli(['ramp', 'nope-memory', 'read-new', '5', '--file', temp.file])).rejects.toThrow(/name a service/);
  await expect(flagsCli(['set', S, 'bogus', 'on', '--file', temp.file])).rejects.toThrow(/one of dual-write/);
  await expect(flagsCli(['ramp', S, 'dual-write', '5', '--file', temp.file])).rejects.toThrow(/read-new\|shadow-read/);
});
