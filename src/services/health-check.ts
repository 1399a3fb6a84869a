/** The request each side answers without effect: every legacy service's health_check, and the orchestrator's (PROTOCOLS.md 1, 2). */
import type { Side } from '../comparison/observation.js';

export const HEALTH_CHECK: Readonly<Record<Side, string>> = {
  legacy: '{"action": "health_check"}',
  new: '{"action": "health_check", "request_id": "req-health00"}',
};
