/**
 * ZeroMQ leg for REP backends: one Dealer, many calls in flight, replies matched by call id.
 * A REP socket echoes every frame before the empty delimiter, so `[callId, '', payload]` comes back as
 * `[callId, '', reply]`; a call that timed out is forgotten and its late reply dropped, so nothing
 * wedges the way a REQ socket's lockstep would.
 */
import * as zmq from 'zeromq';
import { TransportLeg, type Transport } from './leg.js';
import { LegError, type Leg, type LegFailure, type LegOptions } from './types.js';

interface Pending {
  resolve(reply: Buffer): void;
  reject(err: LegError): void;
}

/** up: a handshaken peer; down: last attempt failed or peer left; unknown: first attempt still running. */
type Link = 'unknown' | 'up' | 'down';

const EMPTY = Buffer.alloc(0);

class ZmqTransport implements Transport {
  private readonly sock: zmq.Dealer;
  private readonly pending = new Map<string, Pending>();
  private nextId = 1;
  private link: Link;
  private linkKnown: Promise<void>;
  private markLinkKnown!: () => void;
  private sending: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly endpoint: string) {
    this.sock = new zmq.Dealer({
      // Queue only to a connected peer and never wait to queue: an absent backend fails the call now.
      immediate: true,
      sendTimeout: 0,
      // Many calls share the one pipe; the default 1000 would fail a burst as if the peer were gone.
      sendHighWaterMark: 100_000,
      receiveHighWaterMark: 100_000,
      reconnectInterval: 100,
      reconnectMaxInterval: 1000,
      linger: 0,
    });
    this.linkKnown = new Promise((resolve) => (this.markLinkKnown = resolve));
    // inproc has no connection events; the peer is either bound already or not.
    this.link = endpoint.startsWith('inproc://') ? 'up' : 'unknown';
    if (this.link !== 'unknown') this.markLinkKnown();
    this.watch();
    this.sock.connect(endpoint);
    void this.receiveLoop();
  }

  private watch(): void {
    const events = this.sock.events;
    events.on('handshake', () => this.setLink('up'));
    events.on('connect:retry', () => this.setLink('down'));
    events.on('disconnect', () => {
      this.setLink('down');
      // The replies of everything sent on that connection are gone with it.
      this.failAll('unavailable', 'backend disconnected');
    });
  }

  private setLink(link: Link): void {
    this.link = link;
    this.markLinkKnown();
  }

  async exchange(payload: Buffer, signal: AbortSignal): Promise<Buffer> {
    if (this.closed) throw this.error('closed', 'leg is closed');
    // Right after start-up, give the first connection attempt its chance instead of failing at once.
    if (this.link === 'unknown') await this.linkKnown;
    if (signal.aborted || this.closed) throw this.error('closed', 'call ended before it was sent');
    const id = (this.nextId++).toString(36);
    const reply = new Promise<Buffer>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    signal.addEventListener('abort', () => this.settle(id, (p) => p.reject(signal.reason)), { once: true });
    try {
      await this.send([Buffer.from(id), EMPTY, payload]);
    } catch (err) {
      this.settle(id, (p) => p.reject(this.error('unavailable', `send failed: ${describe(err)}`)));
    }
    return reply;
  }

  /** zeromq allows one pending send per socket; sends never block (sendTimeout 0), so a chain is cheap. */
  private send(frames: Buffer[]): Promise<void> {
    const sent = this.sending.then(() => this.sock.send(frames));
    this.sending = sent.catch(() => undefined);
    return sent;
  }

  private async receiveLoop(): Promise<void> {
    try {
      for await (const frames of this.sock) this.onReply(frames);
    } catch (err) {
      if (!this.closed) this.failAll('unavailable', `receive failed: ${describe(err)}`);
    }
  }

  private onReply(frames: Buffer[]): void {
    const [idFrame, delimiter, body] = frames;
    if (idFrame === undefined) return;
    // Unknown ids are replies to calls that already timed out or failed: drop them.
    this.settle(idFrame.toString(), (p) => {
      if (frames.length === 3 && delimiter?.length === 0 && body !== undefined) p.resolve(body);
      else p.reject(this.error('protocol', `unexpected reply framing (${frames.length} frames)`));
    });
  }

  private settle(id: string, how: (p: Pending) => void): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.pending.delete(id);
    how(p);
  }

  private failAll(failure: LegFailure, message: string): void {
    const calls = [...this.pending.values()];
    this.pending.clear();
    for (const p of calls) p.reject(this.error(failure, message));
  }

  private error(failure: LegFailure, message: string): LegError {
    return new LegError(failure, message, this.endpoint);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failAll('closed', 'leg closed');
    this.markLinkKnown();
    this.sock.close();
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function createZmqLeg(endpoint: string, opts: LegOptions): Leg {
  return new TransportLeg(endpoint, opts, new ZmqTransport(endpoint));
}
