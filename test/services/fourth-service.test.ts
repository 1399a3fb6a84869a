/**
 * A fourth legacy service needs its module and one registerService() call, nothing else: the made-up
 * NotesAgent (notes-service.ts) is fronted, dual-written to the orchestrator, shadow-read and compared.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as zmq from 'zeromq';
import { parseConfig } from '../../src/config.js';
import { DEFAULT_FLAGS_FILE } from '../../src/flags/definitions.js';
import { startProxy, type Proxy } from '../../src/proxy.js';
import { registerService } from '../../src/services/registry.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { freshDatabaseUrl } from '../support/database.js';
import { startSims } from '../support/stack.js';
import { requestOnce } from '../support/zmq-client.js';
import { notesMemory } from './notes-service.js';

registerService(notesMemory);
const NOTES = 'notes-memory';

/** The legacy NotesAgent itself: a REP socket keeping notes per user in memory, answering as its module says. */
async function startNotesAgent(): Promise<{ endpoint: string; close(): void }> {
  const sock = new zmq.Reply({ linger: 0 });
  await sock.bind('tcp://127.0.0.1:*');
  const notes = new Map<string, { text: string; at: number }[]>();
  void (async () => {
    for await (const [frame] of sock) {
      const r = JSON.parse(frame!.toString()) as { action: string; user_id?: string; text?: string };
      const user = r.user_id ?? 'anyone';
      const mine = notes.get(user) ?? [];
      notes.set(user, mine);
      let reply: unknown;
      if (r.action === 'add_note') mine.push({ text: String(r.text), at: Date.now() / 1000 });
      if (r.action === 'clear_notes') mine.length = 0;
      if (r.action === 'add_note' || r.action === 'clear_notes') reply = { ok: true };
      else if (r.action === 'get_notes') reply = { ok: true, notes: mine };
      else reply = { ok: false, error: `Unknown action: ${r.action}` };
      await sock.send(JSON.stringify(reply));
    }
  })().catch(() => undefined);
  return { endpoint: sock.lastEndpoint!, close: () => sock.close() };
}

let sims: SimHandle;
let agent: Awaited<ReturnType<typeof startNotesAgent>>;
let proxy: Proxy;
let dir: string;

beforeAll(async () => {
  [sims, agent] = await Promise.all([startSims(), startNotesAgent()]);
  // The shipped flags plus the new service's own, copied from jarvis-memory's: dual-write on, every read shadowed.
  dir = await mkdtemp(join(tmpdir(), 'memshift-notes-'));
  const doc = JSON.parse(await readFile(DEFAULT_FLAGS_FILE, 'utf8')) as {
    features: { name: string; enabled: boolean; strategies: { parameters: Record<string, string> }[] }[];
  };
  const copies = doc.features
    .filter((f) => f.name.startsWith('memshift.jarvis-memory.'))
    .map((f) => ({ ...structuredClone(f), name: f.name.replace('jarvis-memory', NOTES) }));
  for (const f of copies) {
    if (f.name.endsWith('.dual-write')) f.enabled = true;
    if (f.name.endsWith('.shadow-read')) {
      f.enabled = true;
      f.strategies[0]!.parameters.rollout = '100';
    }
  }
  await writeFile(join(dir, 'flags.json'), JSON.stringify({ ...doc, features: [...doc.features, ...copies] }));
  const off = { enabled: false };
  const config = parseConfig({
    http: { host: '127.0.0.1', port: 0 },
    orchestrator: { endpoint: sims.endpoints.orchestrator },
    services: {
      'session-memory': off,
      'contextual-memory': off,
      'jarvis-memory': off,
      [NOTES]: { front: 'tcp://127.0.0.1:*', legacy: { endpoint: agent.endpoint } },
    },
    store: { url: await freshDatabaseUrl() },
    flags: { file: join(dir, 'flags.json') },
    guard: { enabled: false },
  });
  proxy = await startProxy(config);
});

afterAll(async () => {
  await proxy?.close();
  agent?.close();
  await sims?.close();
  await rm(dir, { recursive: true, force: true });
});

const ask = async (request: unknown) => JSON.parse((await requestOnce(proxy.fronts[NOTES]!, request)).toString()) as Record<string, unknown>;

it('fronts the service, writes the orchestrator second and compares shadow reads', async () => {
  expect(proxy.flags.snapshot().services[NOTES]!.stage).toBe('shadow');
  for (const text of ['buy milk', 'call Ana', 'água e pão']) expect(await ask({ action: 'add_note', user_id: 'u1', text })).toEqual({ ok: true });
  await proxy.runner.secondary.drain();

  // The orchestrator holds the three notes, read back through the service's own translator.
  const rebuilt = (await proxy.runner.translators[NOTES]!.handle({ action: 'get_notes', user_id: 'u1' }, { createMissing: false })) as {
    notes: { text: string }[];
  };
  expect(rebuilt.notes.map((n) => n.text)).toEqual(['buy milk', 'call Ana', 'água e pão']);

  // The agent gets legacy's reply; the shadow read on the orchestrator is compared under the module's rules.
  const reply = await ask({ action: 'get_notes', user_id: 'u1' });
  expect((reply.notes as { text: string }[]).map((n) => n.text)).toEqual(['buy milk', 'call Ana', 'água e pão']);
  await expect.poll(() => proxy.runner.stats.of(NOTES).compared, { timeout: 10_000 }).toBe(1);
  expect(proxy.runner.stats.of(NOTES).mismatches).toBe(0);
  expect(proxy.runner.stats.of(NOTES).secondaryOk).toBe(3);
});

it('answers bad input in the service own error shape', async () => {
  expect(await ask({ action: 'sing' })).toEqual({ ok: false, error: 'Unknown action: sing' });
  // No action: the agent's own answer; too deep for memshift: memshift's, in the agent's shape.
  expect(await ask({ text: 'no action' })).toEqual({ ok: false, error: 'Unknown action: undefined' });
  let deep: unknown = 1;
  for (let i = 0; i < 1100; i++) deep = [deep];
  expect(await ask({ action: 'add_note', text: deep })).toEqual({
    ok: false,
    error: expect.stringContaining('memshift: request is nested deeper than 1000 levels'),
  });
});
