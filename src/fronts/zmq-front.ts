/**
 * A ZeroMQ ROUTER per legacy service: agents' REQ sockets connect to it exactly as they did to the
 * service. Requests are handled concurrently; each reply goes back with the envelope it came with.
 */
import * as zmq from 'zeromq';
import type { ServiceName } from '../services/catalog.js';
import type { Pipeline } from '../core/pipeline.js';
import { errorReply } from '../core/route.js';
import { childLogger } from '../telemetry/log.js';

const log = childLogger('zmq-front');

export interface ZmqFrontOptions {
  service: ServiceName;
  bind: string;
  pipeline: Pipeline;
  /** ZeroMQ drops the peer above this; our own, smaller, frame limit answers with an error first. */
  hardLimitBytes: number;
}

export class ZmqFront {
  private readonly socket: zmq.Router;
  private sendChain: Promise<void> = Promise.resolve();
  private loop: Promise<void> | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  endpoint = '';

  constructor(private readonly opts: ZmqFrontOptions) {
    this.socket = new zmq.Router({ maxMessageSize: opts.hardLimitBytes, linger: 0 });
  }

  async start(): Promise<void> {
    await this.socket.bind(this.opts.bind);
    this.endpoint = this.socket.lastEndpoint ?? this.opts.bind;
    this.loop = this.receiveLoop();
  }

  private async receiveLoop(): Promise<void> {
    try {
      for await (const frames of this.socket) {
        const task = this.serve(frames).finally(() => this.inFlight.delete(task));
        this.inFlight.add(task);
      }
    } catch (err) {
      if (!this.socket.closed) log.error({ err, service: this.opts.service }, 'receive loop ended');
    }
  }

  private async serve(frames: Buffer[]): Promise<void> {
    // REQ peers send [identity, "", body]; everything up to the empty delimiter is the envelope to echo.
    const delimiter = frames.findIndex((f, i) => i > 0 && f.length === 0);
    const envelope = delimiter > 0 ? frames.slice(0, delimiter + 1) : [frames[0]!, Buffer.alloc(0)];
    const body = delimiter > 0 ? frames.slice(delimiter + 1) : frames.slice(1);
    let reply: Buffer;
    if (body.length !== 1) {
      reply = errorReply(this.opts.service, `memshift: expected one frame holding JSON, got ${body.length}`);
    } else {
      reply = (await this.opts.pipeline.handle(this.opts.service, body[0]!)).reply;
    }
    await this.send([...envelope, reply]);
  }

  /** zeromq allows one pending send per socket, so replies are chained. */
  private send(frames: Buffer[]): Promise<void> {
    const next = this.sendChain.then(() => this.socket.send(frames));
    this.sendChain = next.catch((err: unknown) => {
      if (!this.socket.closed) log.warn({ err, service: this.opts.service }, 'reply not sent');
    });
    return this.sendChain;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
    this.socket.close();
    await this.loop;
  }
}
