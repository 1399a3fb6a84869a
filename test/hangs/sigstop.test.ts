/**
 * Acceptance, a hung secondary: 12 writers each on jarvis-memory and session-memory while the secondary's
 * simulators, in a process of their own, are stopped whole (SIGSTOP, libzmq's I/O threads too) three times, once
 * across a kill -9 of memshift (threeHangs), then continued (SIGCONT). At dual-write the orchestrator is stopped,
 * at new-primary both legacy services. A stopped process differs from one that only stops answering: the kernel
 * buffers what is sent on an open connection, applied on SIGCONT even when its sender has died meanwhile, while a
 * connection made during the stop (the restarted memshift's) waits in its handshake until SIGCONT, and what was
 * sent on one whose sender died before then is never applied.
 * After the drain: every acknowledged write on both sides, none twice, each key's order kept, and no agent error
 * but while memshift itself was dead.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { legacyRecords, newRecords } from './records.js';
import { SimProcess } from './sim-process.js';
import { expectSidesAgree, threeHangs, useChildStack, type SidesOf } from './support.js';

describe.each([
  { stage: 'dual-write' as const, stopped: ['orchestrator'] as const, prefix: 'sl' },
  { stage: 'new-primary' as const, stopped: ['session-memory', 'jarvis-memory'] as const, prefix: 'sn' },
])('at $stage, $stopped stopped', ({ stage, stopped, prefix }) => {
  let proc: SimProcess | undefined;
  beforeAll(async () => {
    proc = await SimProcess.start();
  });
  afterAll(() => proc?.close());
  const { sims, memshift, url } = useChildStack({
    stage,
    endpoints: () => Object.fromEntries(stopped.map((t) => [t, proc!.endpoints[t]])),
  });

  it('applies every write once and in order on both sides through three stops and a kill -9', async () => {
    const { load, down } = await threeHangs((on) => proc!.stopped(on), memshift(), url(), prefix);
    expect(load.acked).toBeGreaterThan(1_000);
    const there = await proc!.records(load.agents.map(({ service, key }) => ({ service, key })));
    const sides: SidesOf = (agent) => {
      const i = load.agents.indexOf(agent);
      return stage === 'dual-write'
        ? { legacy: legacyRecords(sims(), agent), fresh: there.fresh[i]! }
        : { legacy: there.legacy[i]!, fresh: newRecords(sims(), agent) };
    };
    expectSidesAgree(sides, load);
    expect(load.errorsOutside([down])).toBe(0);
  }, 240_000);
});
