/**
 * Start-up to ready, in the same run: from spawning a process until its front answers a health check. The
 * floor is a bare zeromq.js forwarder process; then memshift on a PostgreSQL already running (its store's
 * start excluded) and memshift starting its embedded PostgreSQL in a fresh directory (initdb included).
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '../../util/ports.js';
import { startEmbeddedPostgres } from '../../store/embedded.js';
import { HEALTH_CHECK, startChild, startScript, startSim, waitForZmq, type Child } from './processes.js';
import { scratchDir } from '../../util/scratch.js';

export interface StartupOptions {
  /** Starts of each kind; the median is reported. */
  runs: number;
  /** A running PostgreSQL for the store-excluded case; an embedded one started beforehand (not timed) when absent. */
  databaseUrl?: string;
}

/** ms from spawn until `endpoint` answers; the child is stopped afterwards. */
async function timeToReady(start: () => Child, endpoint: string): Promise<number> {
  const t0 = performance.now();
  const child = start();
  try {
    await waitForZmq(endpoint, HEALTH_CHECK, 120_000);
    return performance.now() - t0;
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${child.output()}`);
  } finally {
    await child.stop();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function benchStartup(o: StartupOptions): Promise<string> {
  const dir = await scratchDir('memshift-bench-startup');
  const [legacyPort, orchestratorPort] = [await freePort(), await freePort()];
  const legacy = `tcp://127.0.0.1:${legacyPort}`;
  const sims = startSim({ 'session-memory': legacyPort, orchestrator: orchestratorPort });
  const own = o.databaseUrl ? undefined : await startEmbeddedPostgres({ dataDir: join(dir, 'shared-pg') });
  const url = o.databaseUrl ?? own!.url;
  const serve = (front: string, store: string) => () =>
    startChild([
      'serve',
      ...['--set', `services.session-memory.legacy.endpoint=${legacy}`, '--set', `services.session-memory.front=${front}`],
      ...['--set', 'services.contextual-memory.enabled=false', '--set', 'services.jarvis-memory.enabled=false'],
      ...['--set', `orchestrator.endpoint=tcp://127.0.0.1:${orchestratorPort}`, '--set', 'http.port=0', '--set', store],
    ]);
  const times: Record<'forwarder' | 'given' | 'embedded', number[]> = { forwarder: [], given: [], embedded: [] };
  try {
    await waitForZmq(legacy, HEALTH_CHECK);
    for (let i = 0; i < o.runs; i++) {
      const f = `tcp://127.0.0.1:${await freePort()}`;
      times.forwarder.push(await timeToReady(() => startScript(new URL('./forwarder.ts', import.meta.url), [f, legacy]), f));
      const g = `tcp://127.0.0.1:${await freePort()}`;
      times.given.push(await timeToReady(serve(g, `store.url=${url}`), g));
      const e = `tcp://127.0.0.1:${await freePort()}`;
      times.embedded.push(await timeToReady(serve(e, `store.dataDir=${join(dir, `pg-${i}`)}`), e));
    }
  } finally {
    await sims.stop();
    await own?.stop();
    await rm(dir, { recursive: true, force: true });
  }
  const [f, g, e] = [median(times.forwarder), median(times.given), median(times.embedded)];
  const ms = (x: number) => `${Math.round(x)} ms`;
  return (
    `memshift bench: start-up to ready (spawn until the front answers a health check), median of ${o.runs}\n` +
    `  bare zeromq.js forwarder (the floor)              ${ms(f)}\n` +
    `  memshift, store already running (store excluded)   ${ms(g)}  (${(g / f).toFixed(1)}x the forwarder)\n` +
    `  memshift, embedded store from a fresh directory    ${ms(e)}  (${(e / f).toFixed(1)}x; initdb and start included)\n\n`
  );
}
