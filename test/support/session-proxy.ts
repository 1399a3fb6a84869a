/** `memshift serve` as a child process fronting session-memory alone on the simulators, for tests that kill or stop it. */
import { startChild, waitForZmq, HEALTH_CHECK, type Child } from '../../src/tools/bench/processes.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { servingEndpoints } from './serving.js';

/**
 * Started on `front` (`tcp://127.0.0.1:*` the first time: the restarts bind the port it got, as agents keep their
 * endpoint), with `sets` (--set key=value) on top and `env` (MEMSHIFT_LOG_LEVEL: its log's level, warn unless given);
 * resolves once it answers there with the child, its front and its HTTP address. One that does not start is killed,
 * its output in the error.
 */
export async function startSessionProxy(
  sims: SimHandle,
  front: string,
  sets: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ child: Child; front: string; http: string }> {
  const c = startChild(
    [
      'serve',
      ...['--set', `services.session-memory.front=${front}`],
      ...['--set', `services.session-memory.legacy.endpoint=${sims.endpoints['session-memory']}`],
      ...['--set', 'services.contextual-memory.enabled=false', '--set', 'services.jarvis-memory.enabled=false'],
      ...['--set', `orchestrator.endpoint=${sims.endpoints.orchestrator}`],
      ...['--set', 'http.host=127.0.0.1', '--set', 'http.port=0'],
      ...sets.flatMap((s) => ['--set', s]),
    ],
    env,
  );
  try {
    const bound = await servingEndpoints(c);
    await waitForZmq(bound['session-memory']!, HEALTH_CHECK, 30_000);
    return { child: c, front: bound['session-memory']!, http: bound.http! };
  } catch (err) {
    await c.stop('SIGKILL');
    throw new Error(`${(err as Error).message}\n${c.output()}`);
  }
}
