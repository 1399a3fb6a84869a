/**
 * One simulated service on a real ZeroMQ REP socket: one request at a time like the Python services,
 * replies written as Python's json.dumps, and the target's faults (latency, injected errors, outage,
 * divergence, hang) applied per request. An outage closes the socket; coming back rebinds the same port.
 */
import * as zmq from 'zeromq';
import { SIM_ERROR_REPLIES } from './services.js';
import { childLogger } from '../../telemetry/log.js';
import { dumps, loads } from './python.js';
import type { Faults, SimTarget } from './faults.js';
import { isObject, type SimModel, type WriteFault } from './model.js';
import { orchestratorErrorReply } from './orchestrator.js';

const log = childLogger('sim');

/** The target's own error reply; the orchestrator's code depends on whether the request or the service failed. */
function errorReply(target: SimTarget, message: string, requestId: unknown, cause: 'request' | 'service'): unknown {
  if (target === 'orchestrator') return orchestratorErrorReply(cause === 'request' ? 'invalid_request' : 'internal_error', message, requestId);
  return SIM_ERROR_REPLIES[target](message, requestId);
}

const HANG_POLL_MS = 20;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class RepServer {
  private socket: zmq.Reply | undefined;
  /** The concrete bound address (port resolved), reused when the server comes back up. */
  private boundAddress: string | undefined;
  /** Outages and recoveries run one at a time, in the order asked for. */
  private transitions: Promise<void> = Promise.resolve();
  /** Replies served, for the `counterField` fault. */
  private served = 0;

  constructor(
    readonly target: SimTarget,
    readonly model: SimModel,
    private readonly bindAddress: string,
    private readonly faults: () => Faults,
  ) {}

  /** The address clients connect to (a wildcard host becomes loopback). */
  get endpoint(): string {
    if (!this.boundAddress) throw new Error(`${this.target}: not bound yet`);
    return this.boundAddress.replace('tcp://0.0.0.0:', 'tcp://127.0.0.1:');
  }

  start(): Promise<void> {
    return this.serialize(() => this.bind());
  }

  stop(): Promise<void> {
    return this.serialize(async () => {
      const socket = this.socket;
      this.socket = undefined;
      if (socket && !socket.closed) socket.close();
    });
  }

  private serialize(step: () => Promise<void>): Promise<void> {
    const next = this.transitions.then(step);
    this.transitions = next.catch(() => {});
    return next;
  }

  private async bind(): Promise<void> {
    if (this.socket) return;
    // A finite linger, not 0: as with the Python services' default, a client that goes away leaves its queued
    // requests to be worked through (0 would drop them at its disconnect).
    const socket = new zmq.Reply({ linger: 1000 });
    try {
      await bindWithRetry(socket, this.boundAddress ?? this.bindAddress);
    } catch (err) {
      socket.close();
      throw err;
    }
    this.boundAddress = socket.lastEndpoint ?? this.bindAddress;
    this.socket = socket;
    void this.serve(socket);
  }

  private async serve(socket: zmq.Reply): Promise<void> {
    try {
      for await (const [frame] of socket) {
        // Hung: this request waits in hand and the rest in the socket's queues, as in a stopped process.
        while (this.faults().hang && !socket.closed) await sleep(HANG_POLL_MS);
        const reply = await this.answer(frame);
        // An outage that began while the request was in hand swallows the reply, as a dead process would.
        if (socket.closed) return;
        await socket.send(reply);
      }
    } catch (err) {
      if (!socket.closed) log.warn({ err, target: this.target }, 'simulator socket failed');
    }
  }

  /** Reply text for one frame, after the configured latency. */
  private async answer(frame: Buffer | undefined): Promise<string> {
    const f = this.faults();
    const delay = f.latencyMs + Math.random() * f.jitterMs;
    if (delay > 0) await sleep(delay);
    let request: unknown;
    try {
      // The Python services read one frame with recv_json; extra frames are ignored.
      request = loads((frame ?? Buffer.alloc(0)).toString('utf8'));
    } catch {
      return dumps(errorReply(this.target, 'Invalid JSON request', null, 'request'));
    }
    const requestId = isObject(request) ? (request.request_id ?? null) : null;
    if (Math.random() < f.errorRate) return dumps(errorReply(this.target, 'Simulated failure', requestId, 'service'));
    const fault: WriteFault = Math.random() < f.divergence.rate ? { diverge: f.divergence.mode } : {};
    try {
      const reply = this.model.handle(request, fault);
      this.served++;
      return dumps(f.counterField && isObject(reply) ? { ...reply, [f.counterField]: this.served } : reply);
    } catch (err) {
      // Bad input never takes the simulator down: answer as the service's catch-all would.
      return dumps(errorReply(this.target, (err as Error).message, requestId, 'service'));
    }
  }
}

/** Binding the port just released by an outage can briefly fail while the OS lets go of it. */
async function bindWithRetry(socket: zmq.Reply, address: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await socket.bind(address);
      return;
    } catch (err) {
      if (attempt >= 40 || (err as { code?: string }).code !== 'EADDRINUSE') throw err;
      await sleep(50);
    }
  }
}
