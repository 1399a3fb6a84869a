/**
 * memshift's fronts on the shipped configuration's any-addresses (`::`, `tcp://[::]:port`): an agent or a probe on IPv6
 * (an IPv6-only cluster's pod address) and one on IPv4 both reach them; on a kernel without IPv6 the bind falls back
 * to IPv4's any-address.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startProxy, type Proxy } from '../../src/proxy.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { bindAny } from '../../src/util/any-address.js';
import { freshDatabaseUrl } from '../support/database.js';
import { configFor, startSims } from '../support/stack.js';
import { ReqClient } from '../support/zmq-client.js';

const S = 'jarvis-memory' as const;
let sims: SimHandle;
let proxy: Proxy;
let shipped: { http: string; front: string };

beforeAll(async () => {
  const config = loadConfig({ env: {} });
  // The shipped hosts, on ports of the test's own.
  shipped = { http: config.http.host, front: config.services[S]!.front.replace(/:\d+$/, ':*') };
  sims = await startSims();
  proxy = await startProxy(configFor(sims, await freshDatabaseUrl(), { http: { host: shipped.http, port: 0 }, services: { [S]: { front: shipped.front } } }));
});
afterAll(async () => {
  await proxy?.close();
  await sims?.close();
});

it('binds every address of both families by default: IPv6 and IPv4 agents and probes reach it', async () => {
  expect(shipped).toEqual({ http: '::', front: 'tcp://[::]:*' });
  const port = (url: string) => /:(\d+)$/.exec(url)![1];
  for (const host of ['[::1]', '127.0.0.1']) {
    const health = await fetch(`http://${host}:${port(proxy.httpUrl)}/healthz`);
    expect(health.status, host).toBe(200);
    const agent = new ReqClient(`tcp://${host}:${port(proxy.fronts[S]!)}`);
    try {
      expect(await agent.call({ action: 'get_memories', user_id: `over-${host}` }), host).toMatchObject({ status: 'ok' });
    } finally {
      agent.close();
    }
  }
});

it('falls back to IPv4 where the kernel has no IPv6 (EAFNOSUPPORT), and to nothing else on any other failure', async () => {
  const tried: string[] = [];
  const noIpv6 = async (address: string) => {
    tried.push(address);
    if (address.includes('::')) throw Object.assign(new Error('Address family not supported by protocol'), { code: 'EAFNOSUPPORT' });
    return address;
  };
  expect(await bindAny('::', noIpv6)).toBe('0.0.0.0');
  expect(await bindAny('tcp://[::]:15574', noIpv6)).toBe('tcp://0.0.0.0:15574');
  expect(tried).toEqual(['::', '0.0.0.0', 'tcp://[::]:15574', 'tcp://0.0.0.0:15574']);
  const inUse = Object.assign(new Error('Address already in use'), { code: 'EADDRINUSE' });
  await expect(bindAny('::', () => Promise.reject(inUse))).rejects.toBe(inUse);
  await expect(bindAny('tcp://[fd00::1]:1', noIpv6)).rejects.toThrow(/Address family/);
});
