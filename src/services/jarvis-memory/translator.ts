/**
 * JarvisMemoryAgent (PROTOCOLS.md 1.3) on the orchestrator: one orchestrator session per user, each
 * memory an "entity" memory carrying the legacy value untouched in content.metadata.memory.
 */
import { SERVICES } from '../catalog.js';
import { createdAtSeconds, createdBy, readAllMemories, SessionRegistry, taggedFor } from '../orchestrator-client.js';
import type { IdMap, LegacyRequest, OrchestratorClient, TranslateContext, Translator, WriteLookup } from '../types.js';
import { isObject, legacyKey, textOf } from '../legacy-values.js';

const SOURCE_AGENT = 'jarvis_memory_agent';
const ENTITY = { memory_type: SERVICES['jarvis-memory'].memoryType };

const isReminder = (memory: unknown): boolean => isObject(memory) && memory.type === 'reminder';

export class JarvisMemoryTranslator implements Translator {
  readonly service = 'jarvis-memory' as const;
  private readonly users: SessionRegistry;

  constructor(
    private readonly client: OrchestratorClient,
    ids: IdMap,
  ) {
    this.users = new SessionRegistry(client, ids, this.service);
  }

  // The agent keeps users implicitly (first memory creates one), so createMissing changes nothing here.
  async handle(request: LegacyRequest, ctx: TranslateContext): Promise<unknown> {
    const { action } = request;
    const userId = userOf(request);
    const key = legacyKey(userId);
    switch (action) {
      case 'add_memory': {
        const memory = request.memory ?? null;
        const sessionId = await this.users.ensure(key, { user_id: key, session_metadata: { legacy_user_id: userId } });
        await this.client.call('create', sessionId, {
          ...ENTITY,
          content: { text: textOf(memory), source_agent: SOURCE_AGENT, metadata: { memory } },
          tags: taggedFor(['jarvis', `user:${key}`, ...(isReminder(memory) ? ['reminder'] : [])], ctx.writeId),
        });
        return { status: 'ok' };
      }
      case 'get_memories': {
        const sessionId = await this.users.find(key);
        const memories = sessionId ? await readAllMemories(this.client, sessionId, ENTITY) : [];
        return {
          status: 'ok',
          memories: memories.map((m) => ({
            timestamp: createdAtSeconds(m),
            memory: isObject(m.content.metadata) ? (m.content.metadata.memory ?? null) : null,
          })),
        };
      }
      case 'clear_memories': {
        const sessionId = await this.users.find(key);
        if (sessionId) await this.client.call('bulk_delete', sessionId, { filter: ENTITY });
        return { status: 'ok' };
      }
      default:
        return SERVICES[this.service].errorReply(`Unknown action: ${action}`);
    }
  }

  // Only add_memory creates a record; a clear repeats harmlessly.
  lookup(request: LegacyRequest, writeId: string): Promise<WriteLookup> {
    if (request.action !== 'add_memory') return Promise.resolve('idempotent');
    return createdBy(this.users, this.client, legacyKey(userOf(request)), writeId);
  }
}

/** `request.get("user_id", "default")`: the default applies only when the key is absent. */
const userOf = (request: LegacyRequest): unknown => (request.user_id === undefined ? 'default' : request.user_id);
