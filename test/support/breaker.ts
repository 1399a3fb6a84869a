/** Waits until a leg whose backend hung answers again: its breaker, opened by the timeouts, closed by a trial call. */
import type { Leg } from '../../src/legs/types.js';
import { waitUntil } from '../outbox/support.js';

const HEALTH = '{"action": "health_check", "request_id": "req-health00"}';

/** For the orchestrator's leg (a health check is its trial call); throws past 30 s. */
export async function untilOrchestratorAnswers(orchestrator: Leg): Promise<void> {
  const closed = async () => {
    await orchestrator.call(HEALTH, { timeoutMs: 1_000 }).catch(() => undefined);
    return orchestrator.stats().breaker === 'closed';
  };
  await waitUntil(closed, 30_000, 'orchestrator breaker closed');
}
