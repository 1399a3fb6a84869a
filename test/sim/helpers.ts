/** Test clients for the simulators: one fresh REQ socket per call, so a missing reply cannot wedge the next test. */
import { requestOnce } from '../support/zmq-client.js';

export { startSims as startTestSims } from '../support/stack.js';

/** Sends one frame (a value, or raw text) and resolves with the reply text; rejects on timeout. */
export const sendRaw = async (endpoint: string, body: unknown, timeoutMs = 2000): Promise<string> =>
  (await requestOnce(endpoint, body, timeoutMs)).toString('utf8');

export const send = async (endpoint: string, body: unknown, timeoutMs?: number): Promise<any> => JSON.parse(await sendRaw(endpoint, body, timeoutMs));

let n = 0;
/** An orchestrator request envelope. */
export function envelope(action: string, sessionId: string | undefined, payload?: unknown): Record<string, unknown> {
  return {
    action,
    ...(sessionId === undefined ? {} : { session_id: sessionId }),
    ...(payload === undefined ? {} : { payload }),
    request_id: `req-${(++n).toString(16).padStart(8, '0')}`,
    timestamp: new Date().toISOString(),
  };
}
