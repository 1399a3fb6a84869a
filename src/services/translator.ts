/**
 * The one skeleton every translator grows from: one orchestrator session per legacy key, the service's
 * own memories, its unknown-action reply, and the look-up of a tagged write. Each service adds its actions.
 */
import { createdBy, SessionRegistry } from './orchestrator-client.js';
import type { LegacyService } from './service.js';
import type { IdMap, LegacyRequest, OrchestratorClient, TranslateContext, Translator, WriteLookup } from './types.js';
import { pyFloat } from '../util/pyjson.js';
import { stampMicros } from '../util/stamps.js';

export abstract class ServiceTranslator implements Translator {
  readonly service: string;
  protected readonly sessions: SessionRegistry;
  /** The batch_read / bulk_delete filter of this service's memories. */
  protected readonly own: { memory_type: string };

  constructor(
    protected readonly spec: LegacyService,
    protected readonly client: OrchestratorClient,
    ids: IdMap,
  ) {
    this.service = spec.name;
    this.sessions = new SessionRegistry(client, ids, spec.name);
    this.own = { memory_type: spec.memoryType };
  }

  abstract handle(request: LegacyRequest, ctx: TranslateContext): Promise<unknown>;

  /**
   * The legacy key whose session gets a new memory from this write; undefined when the write creates none
   * (sending it again leaves the state it would have left: a session made twice is kept once, clears repeat).
   */
  protected abstract createsIn(request: LegacyRequest): string | undefined;

  lookup(request: LegacyRequest, writeId: string): Promise<WriteLookup> {
    const key = this.createsIn(request);
    return key === undefined ? Promise.resolve('idempotent') : createdBy(this.sessions, this.client, key, writeId);
  }

  /** The scope of a legacy key's record times (util/stamps.ts): the key, of this service. */
  protected stampScope(key: string): string {
    return `${this.service}\u0000${key}`;
  }

  protected unknownAction(action: string, requestId?: unknown): unknown {
    return this.spec.errorReply(`Unknown action: ${action}`, requestId);
  }
}

/** A translator whose replies go through the deployed loop's reshaping (config `replies: as-deployed`). */
export function reshaped(translator: Translator, shape: (reply: unknown) => unknown): Translator {
  return {
    service: translator.service,
    handle: async (request, ctx) => shape(await translator.handle(request, ctx)),
    lookup: (request, writeId) => translator.lookup(request, writeId),
    ...(translator.restore ? { restore: translator.restore.bind(translator) } : {}),
  };
}

/**
 * A record's legacy time as epoch seconds spelt as Python's float: the legacy record's own (backfill, repair),
 * or the write's time in this process (see util/stamps.ts; `scope`: the service's legacy key).
 */
export function epochStamp(ctx: TranslateContext, scope: string): unknown {
  if (typeof ctx.stamp === 'number') return pyFloat(ctx.stamp);
  return ctx.stamp ?? pyFloat(stampMicros(scope, ctx.at) / 1e6);
}
