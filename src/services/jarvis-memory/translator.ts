/**
 * JarvisMemoryAgent (PROTOCOLS.md 1.3) on the orchestrator: one orchestrator session per user, each
 * memory an "entity" memory carrying the legacy value untouched in content.metadata.memory.
 */
import { createdAtSeconds, readAllMemories, taggedFor } from '../orchestrator-client.js';
import { pyFloat } from '../../util/pyjson.js';
import { epochStamp, ServiceTranslator } from '../translator.js';
import type { LegacyRequest, TranslateContext } from '../types.js';
import { isObject, legacyKey, textOf } from '../legacy-values.js';

const SOURCE_AGENT = 'jarvis_memory_agent';

const isReminder = (memory: unknown): boolean => isObject(memory) && memory.type === 'reminder';

export class JarvisMemoryTranslator extends ServiceTranslator {
  // The agent keeps users implicitly (first memory creates one), so createMissing changes nothing here.
  async handle(request: LegacyRequest, ctx: TranslateContext): Promise<unknown> {
    const { action } = request;
    const userId = userOf(request);
    const key = legacyKey(userId);
    switch (action) {
      case 'add_memory': {
        const memory = request.memory ?? null;
        const sessionId = await this.sessions.ensure(key, { user_id: key, session_metadata: { legacy_user_id: userId } });
        await this.client.call('create', sessionId, {
          ...this.own,
          // The legacy record's time rides along in the agent's own format (epoch seconds, a float).
          content: { text: textOf(memory), source_agent: SOURCE_AGENT, timestamp: epochStamp(ctx, this.stampScope(key)), metadata: { memory } },
          tags: taggedFor(['jarvis', `user:${key}`, ...(isReminder(memory) ? ['reminder'] : [])], ctx.writeId),
        });
        return { status: 'ok' };
      }
      case 'get_memories': {
        const sessionId = await this.sessions.find(key);
        const memories = sessionId ? await readAllMemories(this.client, sessionId, this.own) : [];
        return {
          status: 'ok',
          memories: memories.map((m) => ({
            timestamp: m.content.timestamp ?? pyFloat(createdAtSeconds(m)),
            memory: isObject(m.content.metadata) ? (m.content.metadata.memory ?? null) : null,
          })),
        };
      }
      case 'clear_memories': {
        const sessionId = await this.sessions.find(key);
        if (sessionId) await this.client.call('bulk_delete', sessionId, { filter: this.own });
        return { status: 'ok' };
      }
      default:
        // The agent names no action in its reply (PROTOCOLS.md 1.3).
        return this.spec.errorReply('Unknown action');
    }
  }

  protected createsIn(request: LegacyRequest): string | undefined {
    return request.action === 'add_memory' ? legacyKey(userOf(request)) : undefined;
  }
}

/** `request.get("user_id", "default")`: the default applies only when the key is absent. */
const userOf = (request: LegacyRequest): unknown => (request.user_id === undefined ? 'default' : request.user_id);
