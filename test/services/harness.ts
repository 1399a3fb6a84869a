/**
 * One world per test file: the simulators on ephemeral ports, the translators over a real leg to the
 * orchestrator simulator, and a plain REQ client to each legacy simulator, so the same history can be
 * played into both and the replies compared.
 */
import * as zmq from 'zeromq';
import { expect } from 'vitest';
import { startSimulators, type SimHandle } from '../../src/tools/sim/index.js';
import { createLeg, type Leg } from '../../src/legs/index.js';
import type { SimService as ServiceName } from '../../src/tools/sim/services.js';
import { LegOrchestratorClient } from '../../src/services/orchestrator-client.js';
import { createTranslators } from '../support/translators.js';
import type { IdMap, LegacyRequest, TranslateContext, Translator } from '../../src/services/types.js';
import { pyDumps } from '../../src/util/pyjson.js';

class MemoryIdMap implements IdMap {
  readonly entries = new Map<string, string>();
  readonly lookups: string[] = [];
  private key = (service: ServiceName, legacyKey: string) => `${service}\u0000${legacyKey}`;
  async get(service: ServiceName, legacyKey: string) {
    this.lookups.push(`${service}:${legacyKey}`);
    return this.entries.get(this.key(service, legacyKey));
  }
  async set(service: ServiceName, legacyKey: string, id: string) {
    const key = this.key(service, legacyKey);
    if (!this.entries.has(key)) this.entries.set(key, id);
    return this.entries.get(key)!;
  }
  async delete(service: ServiceName, legacyKey: string) {
    this.entries.delete(this.key(service, legacyKey));
  }
  orchestratorId(service: ServiceName, legacyKey: string) {
    return this.entries.get(this.key(service, legacyKey));
  }
}

/** A REQ socket straight to a legacy simulator: one request in flight at a time. */
class LegacyClient {
  private readonly sock = new zmq.Request({ linger: 0, receiveTimeout: 5000 });
  private queue: Promise<unknown> = Promise.resolve();
  constructor(endpoint: string) {
    this.sock.connect(endpoint);
  }
  call(request: unknown): Promise<unknown> {
    const next = this.queue.then(async () => {
      await this.sock.send(pyDumps(request));
      const [frame] = await this.sock.receive();
      return JSON.parse(frame!.toString('utf8'));
    });
    this.queue = next.catch(() => undefined);
    return next;
  }
  close() {
    this.sock.close();
  }
}

const MASK = '<masked>';

/** Replaces the values under the named keys (anywhere) by a marker, keeping presence and key order. */
function masked(value: unknown, keys: readonly string[]): unknown {
  if (Array.isArray(value)) return value.map((v) => masked(v, keys));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, keys.includes(k) ? MASK : masked(v, keys)]));
  }
  return value;
}

/** Only clock readings differ legitimately between the two sides. */
const CLOCK_KEYS = ['timestamp', 'last_updated'] as const;

export interface World {
  sims: SimHandle;
  ids: MemoryIdMap;
  translators: Record<ServiceName, Translator>;
  orchestratorLeg: Leg;
  legacy(service: ServiceName, request: unknown): Promise<unknown>;
  translate(service: ServiceName, request: LegacyRequest, ctx?: TranslateContext): Promise<unknown>;
  /**
   * Plays one request into the legacy simulator and through the translator, asserts the two replies are
   * the same Python JSON text once clock readings are masked, and returns both.
   */
  both(
    service: ServiceName,
    request: LegacyRequest,
    opts?: { ctx?: TranslateContext; mask?: readonly string[] },
  ): Promise<{ legacy: unknown; translated: unknown }>;
  close(): Promise<void>;
}

const WRITE_NEW_SECOND: TranslateContext = { createMissing: false };

export async function startWorld(): Promise<World> {
  const sims = await startSimulators({
    ports: { 'session-memory': 0, 'contextual-memory': 0, 'jarvis-memory': 0, orchestrator: 0 },
    controlPort: null,
  });
  const orchestratorLeg = createLeg(sims.endpoints.orchestrator, { timeoutMs: 3000, breaker: { failureThreshold: 1000, openMs: 1000 } });
  const ids = new MemoryIdMap();
  const translators = createTranslators(new LegOrchestratorClient(orchestratorLeg), ids);
  const clients = {
    'session-memory': new LegacyClient(sims.endpoints['session-memory']),
    'contextual-memory': new LegacyClient(sims.endpoints['contextual-memory']),
    'jarvis-memory': new LegacyClient(sims.endpoints['jarvis-memory']),
  };
  const legacy = (service: ServiceName, request: unknown) => clients[service].call(request);
  const translate = async (service: ServiceName, request: LegacyRequest, ctx = WRITE_NEW_SECOND) => {
    const reply = await translators[service].handle(request, ctx);
    // What the caller will send: it must survive the Python serialisation unchanged.
    return JSON.parse(pyDumps(reply));
  };
  return {
    sims,
    ids,
    translators,
    orchestratorLeg,
    legacy,
    translate,
    async both(service, request, opts = {}) {
      const legacyReply = await legacy(service, request);
      const translated = await translate(service, request, opts.ctx);
      const keys = [...CLOCK_KEYS, ...(opts.mask ?? [])];
      expect(pyDumps(masked(translated, keys))).toBe(pyDumps(masked(legacyReply, keys)));
      return { legacy: legacyReply, translated };
    },
    async close() {
      for (const c of Object.values(clients)) c.close();
      await orchestratorLeg.close();
      await sims.close();
    },
  };
}

/** The live memories the orchestrator simulator holds for one orchestrator session, oldest first. */
export function storedMemories(world: World, orchestratorSessionId: string | undefined) {
  return [...world.sims.models.orchestrator.memories.values()]
    .filter((m) => m.session_id === orchestratorSessionId && m.is_active)
    .sort((a, b) => a.seq - b.seq);
}
