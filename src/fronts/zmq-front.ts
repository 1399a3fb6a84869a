/**
 * A ZeroMQ ROUTER per legacy service: agents' REQ sockets connect to it exactly as they did to the
 * service. Requests are handled concurrently; each reply goes back with the envelope it came with.
 * A ROUTER never blocks on send (it drops what a vanished peer cannot take), so with sendTimeout 0
 * zeromq.js sends synchronously and replies need no queue.
 */
import * as zmq from 'zeromq';
import type { ServiceName } from '../services/registry.js';
import type { FrameHandler } from './frames.js';
import { errorReply } from '../routes/route.js';
import { childLogger } from '../telemetry/log.js';
import { ipv6Option } from '../util/zmq-ipv6.js';
import { bindAny, localEndpoint } from '../util/any-address.js';

const log = childLogger('zmq-front');
const EMPTY = Buffer.alloc(0);

export interface ZmqFrontOptions {
  service: ServiceName;
  bind: string;
  handle: FrameHandler;
  /** ZeroMQ drops the peer above this; our own, smaller, frame limit answers with an error first. */
  hardLimitBytes: number;
}

export class ZmqFront {
  private readonly socket: zmq.Router;
  private loop: Promise<void> | undefined;
  private inFlight = 0;
  private drained: (() => void) | undefined;
  endpoint = '';

  constructor(private readonly opts: ZmqFrontOptions) {
    this.socket = new zmq.Router({ maxMessageSize: opts.hardLimitBytes, linger: 0, sendTimeout: 0, ...ipv6Option(opts.bind) });
  }

  async start(): Promise<void> {
    await bindAny(this.opts.bind, (address) => this.socket.bind(address));
    this.endpoint = localEndpoint(this.socket.lastEndpoint ?? this.opts.bind);
    this.loop = this.receiveLoop();
  }

  private async receiveLoop(): Promise<void> {
    try {
      // receive() itself rather than the socket's async iterator, which wraps each message in one more
      // async call; closing the socket ends the loop with an error, caught below.
      for (;;) {
        const frames = await this.socket.receive();
        this.inFlight++;
        void this.serve(frames);
      }
    } catch (err) {
      if (!this.socket.closed) log.error({ err, service: this.opts.service }, 'receive loop ended');
    }
  }

  private async serve(frames: Buffer[]): Promise<void> {
    // REQ peers send [identity, "", body]; everything up to the empty delimiter is the envelope to echo.
    let delimiter = 1;
    while (delimiter < frames.length && frames[delimiter]!.length > 0) delimiter++;
    const framed = delimiter < frames.length;
    const reply = framed ? frames.slice(0, delimiter + 1) : [frames[0]!, EMPTY];
    const bodyStart = framed ? delimiter + 1 : 1;
    try {
      reply.push(
        frames.length - bodyStart === 1
          ? (await this.opts.handle(this.opts.service, frames[bodyStart]!)).reply
          : errorReply(this.opts.service, `memshift: expected one frame holding JSON, got ${frames.length - bodyStart}`),
      );
    } catch (err) {
      log.error({ err, service: this.opts.service }, 'request failed outside the frame handler');
      reply.push(errorReply(this.opts.service, 'memshift: internal error'));
    }
    try {
      this.socket.send(reply).catch(this.notSent);
    } catch (err) {
      this.notSent(err);
    } finally {
      if (--this.inFlight === 0) this.drained?.();
    }
  }

  private readonly notSent = (err: unknown): void => {
    if (!this.socket.closed) log.warn({ err, service: this.opts.service }, 'reply not sent');
  };

  async close(): Promise<void> {
    if (this.inFlight > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    this.socket.close();
    await this.loop;
  }
}
