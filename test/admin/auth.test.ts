// The admin API and every flag / fault control need the bearer token; with none configured they are off.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { command as flagsCommand } from '../../src/commands/flags.js';
import { startProxy, type Proxy } from '../../src/proxy.js';
import { startSimulators, type SimHandle } from '../../src/tools/sim/index.js';
import { flagName } from '../../src/flags/names.js';
import { freshDatabaseUrl } from '../support/database.js';
import { configFor, startSims } from '../support/stack.js';

const TOKEN = 'admin-test-token';
let sims: SimHandle;
let withToken: Proxy;
let without: Proxy;

beforeAll(async () => {
  sims = await startSims();
  const db = await freshDatabaseUrl();
  withToken = await startProxy(configFor(sims, db, { admin: { token: TOKEN }, guard: { enabled: true } }));
  without = await startProxy(configFor(sims, db, { guard: { enabled: true } }), { store: withToken.store });
});
afterAll(async () => {
  await without?.close();
  await withToken?.close();
  await sims?.close();
});

const get = (p: Proxy, path: string, token?: string) => fetch(`${p.httpUrl}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

describe('admin routes', () => {
  it('/admin/status: 401 without the token or with a wrong one, 200 with it', async () => {
    const anonymous = await get(withToken, '/admin/status');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await get(withToken, '/admin/status', 'wrong')).status).toBe(401);
    const ok = await get(withToken, '/admin/status', TOKEN);
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as {
      flagSource: string;
      services: Record<string, { stage: string; guard: { state: string; figures: { windowMs: number } }; outboxDepth: number | null }>;
    };
    expect(body.flagSource).toBe('file');
    expect(Object.keys(body.services).sort()).toEqual(['contextual-memory', 'jarvis-memory', 'session-memory']);
    expect(body.services['jarvis-memory']).toMatchObject({ stage: 'off', guard: { state: 'watching', figures: { windowMs: 60_000 } }, outboxDepth: 0 });
  });

  it('/admin/events lists guard events behind the same token', async () => {
    expect((await get(withToken, '/admin/events')).status).toBe(401);
    const res = await get(withToken, '/admin/events', TOKEN);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ events: [] });
  });

  it('flag overrides need the token and take effect at once', async () => {
    const flag = flagName('session-memory', 'dual-write');
    const put = (token?: string, body: unknown = { enabled: true }) =>
      fetch(`${withToken.httpUrl}/admin/flags/${flag}/override`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(body),
      });
    expect((await put()).status).toBe(401);
    expect(withToken.flags.localOverrides()).toEqual({});
    expect((await put(TOKEN, { enabled: 'yes' })).status).toBe(400);
    expect((await put(TOKEN)).status).toBe(200);
    expect(withToken.flags.snapshot().services['session-memory']!.stage).toBe('dual-write');
    expect((await put(TOKEN, { enabled: null })).status).toBe(200);
    expect(withToken.flags.snapshot().services['session-memory']!.stage).toBe('off');
  });

  it('with no token configured the admin routes and the console are off (404), not open', async () => {
    expect((await get(without, '/admin/status')).status).toBe(404);
    expect((await get(without, '/admin/status', TOKEN)).status).toBe(404);
    expect((await get(without, '/admin/events')).status).toBe(404);
    // The console too: no page, no login, no /ui/api.
    expect((await get(without, '/')).status).toBe(404);
    expect((await fetch(`${without.httpUrl}/login`, { method: 'POST', body: `token=${TOKEN}` })).status).toBe(404);
    expect((await get(without, '/ui/api/status')).status).toBe(404);
    expect((await get(withToken, '/')).status).toBe(200);
    // The agent-facing routes are unaffected.
    expect((await get(without, '/readyz')).status).toBe(200);
  });
});

describe('memshift flags status --proxy', () => {
  it("prints each service's stage as the running proxy applies it", async () => {
    withToken.flags.setLocalOverride(flagName('jarvis-memory', 'dual-write'), true);
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (out.push(String(chunk)), true));
    try {
      expect(await flagsCommand.run(['status', '--proxy', withToken.httpUrl, '--token', TOKEN])).toBe(0);
      await expect(flagsCommand.run(['status', '--proxy', withToken.httpUrl, '--token', 'wrong'])).rejects.toThrow(/401/);
    } finally {
      spy.mockRestore();
      withToken.flags.setLocalOverride(flagName('jarvis-memory', 'dual-write'), null);
    }
    const text = out.join('');
    expect(text).toMatch(/jarvis-memory\s+dual-write\s+guard watching\s+dual-write=on \(forced on here\)/);
    expect(text).toMatch(/session-memory\s+off\s+guard watching/);
  });
});

describe('simulator fault control', () => {
  it('needs the token, and is off without one', async () => {
    const secured = await startSimulators({
      host: '127.0.0.1',
      ports: { 'session-memory': 0, 'contextual-memory': 0, 'jarvis-memory': 0, orchestrator: 0 },
      controlPort: 0,
    });
    try {
      // startSimulators reads MEMSHIFT_ADMIN_TOKEN; unset here, so the control routes are off.
      expect((await fetch(`${secured.controlUrl}/faults`)).status).toBe(404);
    } finally {
      await secured.close();
    }
    const { startControl } = await import('../../src/tools/sim/control.js');
    const control = await startControl({ getFaults: () => sims.getFaults(), applyFaults: async () => {}, resetFaults: async () => {} }, '127.0.0.1', 0, TOKEN);
    try {
      expect((await fetch(`${control.url}/faults`)).status).toBe(401);
      expect((await fetch(`${control.url}/faults`, { method: 'DELETE', headers: { authorization: 'Bearer nope' } })).status).toBe(401);
      const ok = await fetch(`${control.url}/faults`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(ok.status).toBe(200);
      expect(Object.keys((await ok.json()) as object).sort()).toEqual(['contextual-memory', 'jarvis-memory', 'orchestrator', 'session-memory']);
    } finally {
      await control.close();
    }
  });
});
