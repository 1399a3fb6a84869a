// A proxy that cannot start (its front's port is taken) says why and exits, rather than staying up with
// nothing to serve: every socket and timer it had opened is closed again.
import { once } from 'node:events';
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as zmq from 'zeromq';
import { startChild } from '../../src/tools/bench/processes.js';
import { freshDatabaseUrl } from '../support/database.js';

let taken: zmq.Router;
beforeAll(async () => {
  taken = new zmq.Router({ linger: 0 });
  await taken.bind('tcp://127.0.0.1:*');
});
afterAll(() => taken?.close());

it('exits with status 1 and the reason when a front cannot bind', async () => {
  const child = startChild([
    'serve',
    ...['--set', `services.session-memory.front=${taken.lastEndpoint}`],
    ...['--set', 'services.contextual-memory.enabled=false', '--set', 'services.jarvis-memory.enabled=false'],
    ...['--set', 'http.host=127.0.0.1', '--set', 'http.port=0'],
    ...['--set', `store.url=${await freshDatabaseUrl()}`],
  ]);
  const started = Date.now();
  const [code] = (await Promise.race([once(child.proc, 'exit'), new Promise((r) => setTimeout(() => r(['still running']), 15_000))])) as [unknown];
  await child.stop('SIGKILL');
  expect(code).toBe(2);
  expect(Date.now() - started).toBeLessThan(15_000);
  expect(child.output()).toMatch(/Address already in use/);
  expect(child.output()).not.toMatch(/Cannot use a pool/);
}, 30_000);
