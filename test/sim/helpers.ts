/** Test clients for the simulators: one fresh REQ socket per call, so a missing reply cannot wedge the next test. */
import * as zmq from 'zeromq';
import { startSimulators, type SimHandle, type SimOptions } from '../../src/sim/index.js';

export const EPHEMERAL = { 'session-memory': 0, 'contextual-memory': 0, 'jarvis-memory': 0, orchestrator: 0 } as const;

export function startTestSims(opts: SimOptions = {}): Promise<SimHandle> {
  return startSimulators({ host: '127.0.0.1', ports: EPHEMERAL, controlPort: null, ...opts });
}

/** Sends one frame (a value, or raw text) and resolves with the reply text; rejects on timeout. */
export async function sendRaw(endpoint: string, body: unknown, timeoutMs = 2000): Promise<string> {
  const sock = new zmq.Request({ linger: 0, receiveTimeout: timeoutMs, sendTimeout: timeoutMs });
  try {
    sock.connect(endpoint);
    await sock.send(typeof body === 'string' ? body : JSON.stringify(body));
    const [reply] = await sock.receive();
    return reply!.toString('utf8');
  } finally {
    sock.close();
  }
}

export const send = async (endpoint: string, body: unknown, timeoutMs?: number): Promise<any> =>
  JSON.parse(await sendRaw(endpoint, body, timeoutMs));

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
