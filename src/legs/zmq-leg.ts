/**
 * ZeroMQ leg for REP backends: one Dealer, many calls in flight, replies matched by call id.
 * A REP socket echoes every frame before the empty delimiter, so `[callId, '', payload]` comes back as
 * `[callId, '', reply]`; a call that timed out is forgotten and its late reply dropped, so nothing
 * wedges the way a REQ socket's lockstep would. Sends never wait (sendTimeout 0), which zeromq.js
 * carries out synchronously, so calls need no send queue.
 */
import * as zmq from 'zeromq';
import { TransportLeg, type Transport } from './leg.js';
import { LegError, type Leg, type LegFailure, type LegOptions } from './types.js';
import { firedPaused } from '../util/deadline.js';
import { ipv6Option } from '../util/zmq-ipv6.js';

interface Pending {
  resolve(reply: Buffer): void;
  reject(err: LegError): void;
  timer: NodeJS.Timeout;
  /** When the timer is due (performance.now()), and whether it was armed again after firing late (firedPaused). */
  due: number;
  regraced: boolean;
  /** Handed to the socket (not only waiting for a connection). */
  sent: boolean;
  /** Held until the backend connects. */
  payload: Buffer | undefined;
}

/** Settles a LegError's `late`: with the late reply, or with none (worked off unanswered, or never sent after all). */
type Ended = (reply?: Buffer) => void;

/** up: a handshaken peer; down: last attempt failed or peer left; unknown: first attempt still running. */
type Link = 'unknown' | 'up' | 'down';

const EMPTY = Buffer.alloc(0);

class ZmqTransport implements Transport {
  private readonly sock: zmq.Dealer;
  private readonly pending = new Map<number, Pending>();
  /**
   * Calls that timed out and are still unanswered, each with its error's `late` to settle: a hung backend holds them,
   * and they count against its bound.
   */
  private readonly late = new Map<number, Ended>();
  /**
   * The `late` of calls whose connection ended unanswered, a batch per connection: a process stopped (SIGSTOP) past
   * the heartbeat timeout loses its connection while it still holds them, and applies them once resumed. The backend
   * takes requests from its connections in turn, one each, so a batch of n is worked off once one later connection
   * had n + 1 answers (`answers`, counted on the current one); the `probe` sent at its handshake makes sure they come.
   */
  private orphaned: { ends: Ended[]; answers: number }[] = [];
  /** Bumped by every new connection: requests sent on an earlier one are answered, if ever, outside this one's order. */
  private epoch = 0;
  private nextId = 1;
  private link: Link;
  private closed = false;
  private readonly connectListeners: (() => void)[] = [];

  constructor(
    private readonly endpoint: string,
    private readonly waitForConnection: boolean,
    heartbeatTimeoutMs: number,
    private readonly probe: { payload: Buffer; timeoutMs: number } | undefined,
  ) {
    this.sock = new zmq.Dealer({
      // A silent peer's connection is dropped and dialed again (LegOptions.heartbeatTimeoutMs); a hung backend whose
      // process still runs answers the pings from libzmq's own thread, so its calls time out as before.
      heartbeatInterval: Math.max(100, Math.min(1_000, Math.floor(heartbeatTimeoutMs / 3))),
      heartbeatTimeout: heartbeatTimeoutMs,
      // Queue only to a connected peer and never wait to queue: an absent backend fails the call now.
      immediate: true,
      sendTimeout: 0,
      // Many calls share the one pipe; the default 1000 would fail a burst as if the peer were gone.
      sendHighWaterMark: 100_000,
      receiveHighWaterMark: 100_000,
      reconnectInterval: 100,
      reconnectMaxInterval: 1000,
      linger: 0,
      ...ipv6Option(endpoint),
    });
    // inproc has no connection events; the peer is either bound already or not.
    this.link = endpoint.startsWith('inproc://') ? 'up' : 'unknown';
    this.watch();
    uninterrupted(() => this.sock.connect(endpoint));
    void this.receiveLoop();
  }

  private watch(): void {
    const events = uninterrupted(() => this.sock.events);
    events.on('handshake', () => {
      this.epoch++;
      this.setLink('up');
      this.probeOrphaned();
      for (const listener of this.connectListeners) listener();
    });
    events.on('connect:retry', () => this.setLink('down'));
    events.on('disconnect', () => {
      this.setLink('down');
      // The replies of everything sent on that connection are gone with it; what it carried may still be applied.
      const ends = [...this.late.values()];
      this.late.clear();
      this.failAll('disconnected', 'backend disconnected after the request was sent', ends);
      if (ends.length) this.orphaned.push({ ends, answers: 0 });
    });
  }

  private setLink(link: Link): void {
    this.link = link;
    // Held calls go out once there is a peer, or fail now if nothing will hold them any longer.
    if (link === 'up' || !this.waitForConnection) {
      for (const [id, p] of this.pending) if (p.payload) this.send(id, p.payload);
    }
  }

  /** A new connection: the answers are counted again on it, and probes (answered, like any call, in turn) ask for them. */
  private probeOrphaned(): void {
    for (const batch of this.orphaned) batch.answers = 0;
    const owed = Math.max(0, ...this.orphaned.map((b) => b.ends.length + 1));
    const probe = this.probe;
    // Their failures need no handling: a backend that does not answer leaves the batches waiting for the next connection.
    if (probe) for (let i = 0; i < owed; i++) this.exchange(probe.payload, probe.timeoutMs).catch(() => undefined);
  }

  onConnect(listener: () => void): void {
    this.connectListeners.push(listener);
  }

  get inFlight(): number {
    return this.pending.size + this.late.size;
  }

  connection(): number {
    return this.epoch;
  }

  exchange(payload: Buffer, timeoutMs: number): Promise<Buffer> {
    if (this.closed) return Promise.reject(this.error('closed', 'leg is closed'));
    const id = this.nextId;
    this.nextId = (this.nextId + 1) >>> 0;
    // Right after start-up the first connection attempt gets its chance; with waitForConnection, every later one too.
    const hold = this.link === 'unknown' || (this.link === 'down' && this.waitForConnection);
    const reply = new Promise<Buffer>((resolve, reject) => {
      // Every entry one shape, its payload cleared rather than deleted (a deleted property can make it a dictionary).
      const timer = setTimeout(this.timedOut, timeoutMs, id, timeoutMs);
      this.pending.set(id, { resolve, reject, timer, due: performance.now() + timeoutMs, regraced: false, sent: false, payload: hold ? payload : undefined });
    });
    if (!hold) this.send(id, payload);
    return reply;
  }

  private readonly timedOut = (id: number, timeoutMs: number): void => {
    const waiting = this.pending.get(id);
    if (waiting && !waiting.regraced && firedPaused(waiting.due, timeoutMs)) {
      // This process was paused: the reply may be waiting unread, and an applied write would be told as failed.
      waiting.regraced = true;
      waiting.due = performance.now() + timeoutMs;
      waiting.timer = setTimeout(this.timedOut, timeoutMs, id, timeoutMs);
      return;
    }
    const p = this.take(id);
    if (!p) return;
    if (!p.sent) return p.reject(this.error('unavailable', `no connection to the backend within ${timeoutMs} ms`));
    const late = new Promise<Buffer | undefined>((ended) => this.late.set(id, ended));
    p.reject(new LegError('timeout', `no reply within ${timeoutMs} ms`, this.endpoint, late));
  };

  private send(id: number, payload: Buffer): void {
    // The call may have timed out, or the leg closed, while the first connection was being made.
    const p = this.pending.get(id);
    if (!p) return;
    p.sent = true;
    p.payload = undefined;
    const idFrame = Buffer.allocUnsafe(4);
    idFrame.writeUInt32BE(id);
    try {
      this.sock.send([idFrame, EMPTY, payload]).catch((err: unknown) => this.sendFailed(id, payload, err));
    } catch (err) {
      this.sendFailed(id, payload, err);
    }
  }

  /** Not sent: no peer took it (it left before its disconnect event came). Held for the next one, or failed now. */
  private sendFailed(id: number, payload: Buffer, err: unknown): void {
    this.ended(id);
    const p = this.pending.get(id);
    if (p && this.waitForConnection && !this.closed) {
      p.sent = false;
      p.payload = payload;
      if (this.link === 'up') this.link = 'down';
      return;
    }
    this.take(id)?.reject(this.error('unavailable', `send failed: ${describe(err)}`));
  }

  private async receiveLoop(): Promise<void> {
    try {
      // As in the fronts: receive() itself; closing the socket ends the loop with an error.
      for (;;) this.onReply(await this.sock.receive());
    } catch (err) {
      if (!this.closed) this.failAll('disconnected', `receive failed: ${describe(err)}`);
    }
  }

  private onReply(frames: Buffer[]): void {
    const idFrame = frames[0];
    if (idFrame?.length !== 4) return;
    // Unknown ids are replies to calls that already timed out or failed: drop them.
    const id = idFrame.readUInt32BE(0);
    this.ended(id, frames.length === 3 && frames[1]!.length === 0 ? frames[2] : undefined);
    if (this.orphaned.length) this.answered();
    const p = this.take(id);
    if (p === undefined) return;
    if (frames.length === 3 && frames[1]!.length === 0) p.resolve(frames[2]!);
    else p.reject(this.error('protocol', `unexpected reply framing (${frames.length} frames)`));
  }

  /** One answer more on the current connection: the orphaned batches it completes are worked off. */
  private answered(): void {
    this.orphaned = this.orphaned.filter((batch) => {
      if (++batch.answers <= batch.ends.length) return true;
      for (const ended of batch.ends) ended();
      return false;
    });
  }

  /** A call that timed out is done with (answered late, or never sent after all): its error's `late` settles. */
  private ended(id: number, reply?: Buffer): void {
    const ended = this.late.get(id);
    if (!ended) return;
    this.late.delete(id);
    ended(reply);
  }

  /** The call's entry, removed and its timer stopped: whoever takes it settles it. */
  private take(id: number): Pending | undefined {
    const p = this.pending.get(id);
    if (p === undefined) return undefined;
    this.pending.delete(id);
    clearTimeout(p.timer);
    return p;
  }

  /**
   * Fails the calls sent (held ones wait on for the next connection, unless the leg closes). With `ends`, the backend
   * may still apply them: each error's `late` is settled by the end pushed there.
   */
  private failAll(failure: LegFailure, message: string, ends?: Ended[]): void {
    for (const [id, p] of this.pending) {
      if (p.payload && failure !== 'closed') continue;
      this.pending.delete(id);
      clearTimeout(p.timer);
      const late = ends && new Promise<Buffer | undefined>((ended) => ends.push(ended));
      p.reject(new LegError(failure, message, this.endpoint, late));
    }
  }

  private error(failure: LegFailure, message: string): LegError {
    return new LegError(failure, message, this.endpoint);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failAll('closed', 'leg closed');
    this.sock.close();
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function createZmqLeg(endpoint: string, opts: LegOptions): Leg {
  const probe = opts.probe === undefined ? undefined : { payload: Buffer.from(opts.probe), timeoutMs: opts.timeoutMs };
  return new TransportLeg(endpoint, opts, new ZmqTransport(endpoint, opts.waitForConnection ?? false, opts.heartbeatTimeoutMs ?? 5_000, probe));
}

/**
 * Runs a zeromq.js call that libzmq may abandon with EINTR when a signal arrives (a SIGCHLD from the
 * embedded PostgreSQL's start, a profiler's SIGPROF): connect and the event observer's setup. zeromq.js
 * retries bind and send itself but not these, so the proxy's start failed now and then. libzmq returns
 * EINTR from the command processing it does before anything else, so a retry is safe.
 */
export function uninterrupted<T>(op: () => T): T {
  for (let attempt = 1; ; attempt++) {
    try {
      return op();
    } catch (err) {
      if ((err as { code?: string }).code !== 'EINTR' || attempt >= 10) throw err;
    }
  }
}
