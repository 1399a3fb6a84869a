/** In-memory JarvisMemoryAgent (PROTOCOLS.md 1.3): per-user lists of arbitrary JSON memories; errors carry `reason`. */
import { SIM_ERROR_REPLIES } from './services.js';
import { alterValue, divergentWrite, epochSeconds, isObject, noGetMessage, pyStr, type SimModel, type WriteFault } from './model.js';

export interface JarvisEntry {
  timestamp: number;
  memory: unknown;
}

const errorReply = SIM_ERROR_REPLIES['jarvis-memory'];

export class JarvisMemoryModel implements SimModel {
  readonly users = new Map<string, JarvisEntry[]>();
  /** Called after every stored change (persistence rewrites its file, debounced). */
  onChange?: () => void;

  handle(request: unknown, fault?: WriteFault): unknown {
    if (!isObject(request)) return errorReply(noGetMessage(request));
    // `request.get("user_id", "default")`: the default applies only when the key is absent.
    const user = pyStr(request.user_id === undefined ? 'default' : request.user_id);
    switch (request.action) {
      case 'add_memory':
        // A missing memory is stored as null, as `request.get("memory")` would.
        divergentWrite<JarvisEntry>(
          fault,
          { timestamp: epochSeconds(), memory: request.memory ?? null },
          (e) => {
            this.users.set(user, [...(this.users.get(user) ?? []), e]);
            this.onChange?.();
          },
          (e) => ({ ...e, memory: alterValue(e.memory) }),
        );
        return { status: 'ok' };
      case 'get_memories':
        return { status: 'ok', memories: (this.users.get(user) ?? []).map(({ timestamp, memory }) => ({ timestamp, memory })) };
      case 'clear_memories':
        divergentWrite(fault, user, (u) => {
          // The agent keeps the user, with no memories.
          this.users.set(u, []);
          this.onChange?.();
        });
        return { status: 'ok' };
      default:
        // The agent has no health_check action; it answers like any unknown action, naming none.
        return errorReply('Unknown action');
    }
  }
}
