/**
 * A guard trip that moves no reads: at complete legacy is written no more, so the guard changes no flag. What a person
 * reads of it (the chat line, `memshift status`, the report, `memshift guard resume`) must say so, not that reads went
 * back to legacy. The orchestrator answers every write with its error, which trips the new-side error rate.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { serviceSnapshot, type Flags } from '../../src/flags/source.js';
import { startProxy, type Proxy } from '../../src/proxy.js';
import { makeReport, utcDate } from '../../src/report/index.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { startChild } from '../../src/tools/bench/processes.js';
import type { Config } from '../../src/config.js';
import { TempFlags } from '../flags/helpers.js';
import { stagesOf } from '../support/both-behind.js';
import { freshDatabaseUrl } from '../support/database.js';
import { startSlackLike, type SlackLike } from '../support/slack-like.js';
import { configFor, startSims } from '../support/stack.js';
import { ReqClient } from '../support/zmq-client.js';

const S = 'jarvis-memory' as const;
const TOKEN = 'moved-no-reads';

let sims: SimHandle;
let temp: TempFlags;
let flags: Flags;
let config: Config;
let proxy: Proxy;
let slack: SlackLike;

beforeAll(async () => {
  sims = await startSims();
  slack = await startSlackLike();
  temp = await TempFlags.create(stagesOf(S).COMPLETE);
  flags = await temp.open();
  config = configFor(sims, await freshDatabaseUrl(), {
    admin: { token: TOKEN },
    report: { dir: '' },
    guard: { enabled: true, errorRate: { threshold: 0.01, minSamples: 20 }, webhooks: [slack.url] },
  });
  proxy = await startProxy(config, { flags });
}, 60_000);
afterAll(async () => {
  await proxy?.close();
  await proxy?.store.close();
  await temp?.dispose();
  await sims?.close();
  await slack?.close();
});

/** `memshift <args>` against the proxy's admin API, as a child: its exit code and output. */
async function cli(...args: string[]): Promise<{ code: number | null; out: string }> {
  const child = startChild([...args, '--proxy', proxy.httpUrl, '--token', TOKEN]);
  const code = await new Promise<number | null>((resolve) => child.proc.once('exit', resolve));
  return { code, out: child.output() };
}

it('at complete, a trip on the orchestrator is told as one that rolled nothing back, everywhere a person reads it', async () => {
  expect(serviceSnapshot(flags.snapshot(), S).stage).toBe('complete');
  await sims.applyFaults('orchestrator', { errorRate: 1 });
  const agent = new ReqClient(proxy.fronts[S]!, 5000);
  try {
    // Writes: at complete each goes to the orchestrator alone (a read of a user it never saw is answered without it).
    for (let i = 0; i < 40 && !proxy.guard!.tripped().length; i++) await agent.call({ action: 'add_memory', user_id: `u${i}`, memory: `m${i}` });
  } finally {
    agent.close();
  }
  expect(proxy.guard!.tripped()).toEqual([S]);
  // Nothing to roll back to: the flags and this replica's overrides stay as they were.
  expect(flags.localOverrides()).toEqual({});
  expect(serviceSnapshot(flags.snapshot(), S).stage).toBe('complete');

  // The chat line (before: "memshift rolled jarvis-memory back to legacy reads at complete").
  await expect.poll(() => slack.posted.length, { timeout: 10_000 }).toBe(1);
  const text = slack.posted[0]!.text;
  expect(text).toMatch(
    new RegExp(
      `^memshift's guard tripped on ${S} at complete \\(replica [^)]+\\): new-side error rate 100% over 1% \\(\\d+ samples\\)\\. ` +
        'Nothing was rolled back: legacy is no longer written at complete, so there is nothing to roll back to\\. ' +
        `It watches ${S} again once resumed with \`memshift guard resume ${S}\``,
    ),
  );
  expect(text).not.toMatch(/legacy reads/);

  // `memshift status` (before: "GUARD HOLDS IT BACK ...: reads stay on legacy").
  const status = await cli('status');
  expect(status.code, status.out).toBe(0);
  expect(status.out).toMatch(
    new RegExp(
      `${S}: GUARD TRIPPED since \\S+ \\(tripped at complete: errorRate 100(\\.0+)?% > 1(\\.0+)?% \\(\\d+ samples\\); nothing rolled back: legacy is no longer written`,
    ),
  );
  expect(status.out).not.toMatch(/HOLDS IT BACK|reads stay on legacy/);

  // The day's report lists the trip with why no flag changed.
  const report = await makeReport({ date: utcDate(new Date()), config, store: proxy.store, flags });
  expect(report.markdown).toMatch(
    /in complete: errorRate 100(\.0+)?% > 1(\.0+)?% \(\d+ samples\); nothing rolled back: legacy is no longer written at complete/,
  );
  expect(report.html).toMatch(/<td>none: legacy is no longer written at complete, so there is nothing to roll back to<\/td>/);

  // And a person's resume says what it let go of.
  const resumed = await cli('guard', 'resume', S);
  expect(resumed.code, resumed.out).toBe(0);
  expect(resumed.out).toMatch(new RegExp(`^${S}: resumed: the guard had tripped since \\S+ \\(tripped at complete: .*nothing rolled back`));
  expect(proxy.guard!.tripped()).toEqual([]);
  // The channel told of the trip hears of the resume.
  await expect.poll(() => slack.posted.length, { timeout: 10_000 }).toBe(2);
  expect(slack.posted.map((p) => p.type)).toEqual(['memshift.guard.rollback', 'memshift.guard.resume']);
  expect(slack.posted[1]!.event).toMatchObject({ kind: 'resume', resumes: slack.posted[0]!.event.id });
  expect(slack.posted[1]!.text).toMatch(
    new RegExp(`^memshift's guard of ${S} was resumed by a person at complete \\(replica [^)]+\\): the flags decide its reads again`),
  );
}, 90_000);
