/**
 * A legacy agent on a host in another time zone than memshift's (memshift in a container keeps UTC; the agents' PC
 * keeps its own): SessionMemoryAgent's timestamps are local times there (Python's datetime.now().isoformat()), so
 * the ones memshift stamps for the orchestrator must be too, or every compared read differs by the offset and reads
 * served from the orchestrator tell the agent other times than legacy did. The agent here is Python (Debian's, with
 * pyzmq) under its own TZ. Left unset, the report names the zones' offset beside the timestamp differences.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { flagName } from '../../src/flags/names.js';
import { freePort } from '../../src/util/ports.js';
import type { Child } from '../../src/tools/bench/processes.js';
import { startPythonAgent } from '../support/python-agent.js';
import { on, rollout } from '../flags/helpers.js';
import { quiesce, startMigrationStack, type MigrationStack } from '../support/migration.js';
import { ReqClient } from '../support/zmq-client.js';
import { runCommand } from '../support/cli.js';
import { command as statusCommand } from '../../src/commands/status.js';

const S = 'session-memory' as const;

/** A zone whose offset now is not this process's (Kathmandu's +05:45 unless that is ours). */
const offsetIn = (zone: string) => new Date().toLocaleString('en-US', { timeZone: zone, timeZoneName: 'longOffset' }).split(' ').at(-1);
const OURS = offsetIn(Intl.DateTimeFormat().resolvedOptions().timeZone);
const ZONE = ['Asia/Kathmandu', 'America/St_Johns'].find((z) => offsetIn(z) !== OURS)!;
/** `GMT+05:45` as seconds east of UTC (`GMT` alone: 0). */
const seconds = (gmt: string | undefined) => {
  const m = /([+-])(\d\d):(\d\d)/.exec(gmt ?? '');
  return m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 3600 + Number(m[3]) * 60) : 0;
};

const TOKEN = 'time-zone-token';
let agent: Child;
let legacyEndpoint: string;
let legacy: ReqClient;

beforeAll(async () => {
  legacyEndpoint = `tcp://127.0.0.1:${await freePort()}`;
  agent = await startPythonAgent(S, legacyEndpoint, { TZ: ZONE });
  legacy = new ReqClient(legacyEndpoint);
});
afterAll(async () => {
  legacy?.close();
  await agent?.stop();
});

type Context = { context: { role: string; content: string; timestamp: string }[] };

/** Dual-write with every read compared, then every read served from the orchestrator, for one session. */
async function walk(timeZone: string | undefined, session: string) {
  const service = { legacy: { endpoint: legacyEndpoint, timeoutMs: 5000 }, ...(timeZone ? { timeZone } : {}) };
  const stack: MigrationStack = await startMigrationStack(
    { ...on(flagName(S, 'dual-write')), ...rollout(flagName(S, 'shadow-read'), 100) },
    { services: { [S]: service }, admin: { token: TOKEN } },
  );
  const agentClient = new ReqClient(stack.proxy.fronts[S]!);
  try {
    await agentClient.call({ action: 'create_session', session_id: session });
    for (const content of ['first', 'second', 'third'])
      expect(await agentClient.call({ action: 'add_interaction', session_id: session, role: 'user', content })).toMatchObject({ status: 'success' });
    await stack.proxy.runner.secondary.drain();
    for (let i = 0; i < 3; i++) await agentClient.call({ action: 'get_context', session_id: session });
    await quiesce(stack.proxy, [S]);
    const { compared, mismatches, kinds, offsets } = stack.proxy.runner.stats.of(S);
    const report = await stack.proxy.reporter.write();
    const status = (await runCommand(statusCommand, ['--proxy', stack.proxy.httpUrl, '--token', TOKEN])).out;
    await stack.setFlags({ ...on(flagName(S, 'dual-write')), ...rollout(flagName(S, 'read-new'), 100) });
    const fromNew = (await agentClient.call({ action: 'get_context', session_id: session })) as Context;
    expect(stack.served.at(-1)!.side).toBe('new');
    return {
      compared,
      mismatches,
      kinds,
      offsets: { ...offsets },
      fromNew,
      kindsLine: /^\| Kinds of mismatch \| (.*) \|$/m.exec(report.markdown)?.[1],
      status,
    };
  } finally {
    agentClient.close();
    await stack.close();
  }
}

/** Each element's time from the orchestrator against the agent's own, in seconds. */
const skews = (fromNew: Context, fromLegacy: Context) =>
  fromNew.context.map((e, i) => Math.abs(Date.parse(e.timestamp) - Date.parse(fromLegacy.context[i]!.timestamp)) / 1000);

it("stamps the orchestrator's records in the agent's zone when told it: every read alike, and the times served from new the agent's", async () => {
  const { compared, mismatches, fromNew, status } = await walk(ZONE, 'zoned');
  const fromLegacy = (await legacy.call({ action: 'get_context', session_id: 'zoned' })) as Context;
  expect(compared).toBeGreaterThanOrEqual(3);
  expect(mismatches).toBe(0);
  expect(status).not.toContain('TIMES APART');
  expect(fromNew.context.map((e) => e.content)).toEqual(['first', 'second', 'third']);
  for (const s of skews(fromNew, fromLegacy)) expect(s).toBeLessThanOrEqual(1);
}, 60_000);

it("without it, stamps memshift's own zone: every compared read differs in its times by the zones' offset", async () => {
  const { compared, mismatches, kinds, offsets, kindsLine, status, fromNew } = await walk(undefined, 'unzoned');
  const fromLegacy = (await legacy.call({ action: 'get_context', session_id: 'unzoned' })) as Context;
  expect(compared).toBeGreaterThanOrEqual(3);
  expect(mismatches).toBe(compared);
  expect(Object.keys(kinds)).toEqual(['timestamp']);
  // A quarter of an hour at least (St John's is -03:30 in winter, -02:30 in summer; Kathmandu +05:45).
  for (const s of skews(fromNew, fromLegacy)) expect(s).toBeGreaterThanOrEqual(15 * 60);
  // New's times (ours) minus legacy's (the agent's zone), in every one of them; the report says what that means.
  const apart = seconds(OURS) - seconds(offsetIn(ZONE));
  expect(offsets).toEqual({ [apart]: mismatches });
  const hms = `${Math.floor(Math.abs(apart) / 3600)}:${String((Math.abs(apart) % 3600) / 60).padStart(2, '0')}:00`;
  const said = `${mismatches} with new's times ${apart < 0 ? '-' : '+'}${hms} from legacy's: another time zone on legacy's host (services.session-memory.timeZone)`;
  expect(kindsLine).toBe(`timestamp ${mismatches} (${said})`);
  expect(status).toContain(`\n${S}: TIMES APART: ${said}\n`);
}, 60_000);
