/** Editing the flags file of a running proxy changes what it does within 2 s (watch + default poll). */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { writeFlagsFile } from '../../src/flags/edit.js';
import { flagName } from '../../src/flags/names.js';
import { startProxy, type Proxy } from '../../src/proxy.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { freshDatabaseUrl } from '../support/database.js';
import { configFor, startSims } from '../support/stack.js';
import { ReqClient } from '../support/zmq-client.js';

let sims: SimHandle;
let proxy: Proxy;
let dir: string;
let file: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'memshift-reload-'));
  file = join(dir, 'memshift.json');
  await writeFlagsFile(file, {});
  sims = await startSims();
  // The proxy opens the file itself, as `memshift serve` does: no test-only poll interval.
  proxy = await startProxy(configFor(sims, await freshDatabaseUrl(), { flags: { file } }));
});
afterAll(async () => {
  await proxy?.close();
  await sims?.close();
  await rm(dir, { recursive: true, force: true });
});

it('starts dual-writing within 2 s of the file being edited', async () => {
  const client = new ReqClient(proxy.fronts['jarvis-memory']!);
  const copied = () => proxy.runner.stats.of('jarvis-memory').secondaryOk;
  try {
    await client.call({ action: 'add_memory', user_id: 'before', memory: 'not copied' });
    await proxy.runner.secondary.drain();
    expect(copied()).toBe(0);

    const edited = Date.now();
    await writeFlagsFile(file, { [flagName('jarvis-memory', 'dual-write')]: { enabled: true } });
    let n = 0;
    while (copied() === 0) {
      expect(Date.now() - edited).toBeLessThan(2000);
      await client.call({ action: 'add_memory', user_id: 'after', memory: `m${n++}` });
      await proxy.runner.secondary.drain();
    }
    expect(Date.now() - edited).toBeLessThan(2000);
    expect(await proxy.runner.translators['jarvis-memory']!.handle({ action: 'get_memories', user_id: 'before' }, { createMissing: false })).toEqual({
      status: 'ok',
      memories: [],
    });
  } finally {
    client.close();
  }
});
