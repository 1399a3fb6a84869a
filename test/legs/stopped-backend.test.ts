/**
 * A backend process stopped (SIGSTOP) with calls in flight, kept stopped past the heartbeat timeout, then continued:
 * Python's pyzmq REP, as the legacy services are, still holds what the given-up connection carried, and applies it once
 * resumed, taking requests from its connections in turn. Each such call's `late` settles only once the backend applied
 * it, with no call of the caller's after the resume (an agent gone quiet): the leg's probes ask for the answers.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { createLeg, LegError } from '../../src/legs/index.js';
import { startPythonRep } from './backends.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

it('settles the late of each call a stopped process held once it applied it, though nothing more is sent', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'memshift-stopped-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'applied');
  // A write's work takes it a while: the leg's probes come in while it still works off the held calls.
  const rep = await startPythonRep(log, 100);
  cleanups.push(() => rep.close());
  const applied = () => readFileSync(log, 'utf8').split('\n');
  const leg = createLeg(rep.endpoint, {
    timeoutMs: 500,
    heartbeatTimeoutMs: 1_000,
    breaker: { failureThreshold: 1_000, openMs: 1_000 },
    probe: '{"action": "health_check"}',
  });
  cleanups.push(() => leg.close());
  expect((await leg.call('first')).toString()).toBe('first');

  rep.proc.kill('SIGSTOP');
  cleanups.push(() => rep.proc.kill('SIGCONT'));
  // Three time out; a fourth, given longer than the heartbeat timeout, fails as the connection is given up.
  const failed = await Promise.all([
    ...['w1', 'w2', 'w3'].map((w) => leg.call(w).catch((e: unknown) => e)),
    leg.call('w4', { timeoutMs: 30_000 }).catch((e: unknown) => e),
  ]);
  expect(failed.map((e) => (e as LegError).failure)).toEqual(['timeout', 'timeout', 'timeout', 'disconnected']);
  expect(applied()).not.toContain('w1');

  // What the backend had applied when each call's late settled.
  const seen: string[][] = [];
  const settled = Promise.all(failed.map((e, i) => (e as LegError).late!.then(() => (seen[i] = applied()))));
  rep.proc.kill('SIGCONT');
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([settled, new Promise((_, reject) => (timer = setTimeout(reject, 30_000, new Error('late never settled'))))]);
  clearTimeout(timer);
  expect(seen.map((s, i) => s.includes(`w${i + 1}`))).toEqual([true, true, true, true]);
}, 60_000);
