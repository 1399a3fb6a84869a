/**
 * A backend process stopped (SIGSTOP) with calls in flight, kept stopped past the heartbeat timeout, then continued:
 * Python's pyzmq REP, as the legacy services are, still holds what the given-up connection carried, and applies it once
 * resumed, taking requests from its connections in turn. Each such call's `late` settles only once the backend applied
 * it, with no call of the caller's after the resume (an agent gone quiet): the leg's probes ask for the answers, and
 * memshift's own legs send them.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { createLeg, LegError } from '../../src/legs/index.js';
import { startProxy } from '../../src/proxy.js';
import { freshDatabaseUrl } from '../support/database.js';
import { configFor, startSims } from '../support/stack.js';
import { requestOnce } from '../support/zmq-client.js';
import { waitUntil } from '../outbox/support.js';
import { startPythonRep } from './backends.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A Python REP taking `workMs` a request, each logged before its answer: the lines it took so far. */
async function loggingRep(workMs = 0) {
  const dir = mkdtempSync(join(tmpdir(), 'memshift-stopped-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'applied');
  const rep = await startPythonRep(log, workMs);
  cleanups.push(() => rep.close());
  cleanups.push(() => rep.proc.kill('SIGCONT'));
  return { rep, applied: () => readFileSync(log, 'utf8').split('\n') };
}

it('settles the late of each call a stopped process held once it applied it, though nothing more is sent', async () => {
  // A write's work takes it a while: the leg's probes come in while it still works off the held calls.
  const { rep, applied } = await loggingRep(100);
  const leg = createLeg(rep.endpoint, {
    timeoutMs: 500,
    heartbeatTimeoutMs: 1_000,
    breaker: { failureThreshold: 1_000, openMs: 1_000 },
    probe: '{"action": "health_check"}',
  });
  cleanups.push(() => leg.close());
  expect((await leg.call('first')).toString()).toBe('first');

  rep.proc.kill('SIGSTOP');
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

it("memshift's legacy leg asks a legacy service resumed after a stop for what it held, with the service's health check", async () => {
  const { rep, applied } = await loggingRep();
  const sims = await startSims();
  cleanups.push(() => sims.close());
  const legacy = { endpoint: rep.endpoint, timeoutMs: 500, heartbeatTimeoutMs: 1_000 };
  const proxy = await startProxy(configFor(sims, await freshDatabaseUrl(), { services: { 'jarvis-memory': { legacy } } }));
  cleanups.push(() => proxy.close());
  const write = { action: 'add_memory', user_id: 'u-stopped', memory: 'held by a stopped legacy' };
  const agent = (request: unknown) => requestOnce(proxy.fronts['jarvis-memory']!, request, 10_000).then((r) => JSON.parse(r.toString()) as { status: string });
  // Off: legacy alone. Its connection up first (a read), then the process stopped with the write on its way.
  await agent({ action: 'get_memories', user_id: 'u-stopped' });
  rep.proc.kill('SIGSTOP');
  expect(await agent(write)).toMatchObject({ status: 'error' });
  // Past the heartbeat timeout the connection is given up; then resumed, and the agent sends nothing more.
  await new Promise((r) => setTimeout(r, 2_500));
  // The outbox probes each side once as memshift starts: the health checks that count come after the resume.
  const probe = '{"action": "health_check"}';
  const probesAt = (lines: string[]) => lines.flatMap((l, i) => (l === probe ? [i] : []));
  const before = probesAt(applied()).length;
  rep.proc.kill('SIGCONT');
  await waitUntil(() => Promise.resolve(probesAt(applied()).length > before), 10_000, 'a health check after the resume');
  // Taken after the read before the stop and before the first health check after the resume (memshift forwards the
  // agent's bytes as they are at off).
  const lines = applied();
  const [read, at] = [lines.indexOf(JSON.stringify({ action: 'get_memories', user_id: 'u-stopped' })), lines.indexOf(JSON.stringify(write))];
  expect(read).toBeGreaterThanOrEqual(0);
  expect(at).toBeGreaterThan(read);
  expect(at).toBeLessThan(probesAt(lines)[before]!);
}, 60_000);
