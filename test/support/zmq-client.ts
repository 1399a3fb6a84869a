/** A REQ client as an agent would use one: one request in flight, replies as raw bytes. */
import * as zmq from 'zeromq';

export class ReqClient {
  private readonly sock: zmq.Request;

  constructor(endpoint: string, timeoutMs = 5000) {
    // An agent dialing an IPv6 address needs libzmq's option as much as memshift does.
    this.sock = new zmq.Request({ linger: 0, receiveTimeout: timeoutMs, sendTimeout: timeoutMs, ipv6: endpoint.startsWith('tcp://[') });
    this.sock.connect(endpoint);
  }

  async raw(frames: string | Buffer | (string | Buffer)[]): Promise<Buffer> {
    await this.sock.send(frames);
    const [reply] = await this.sock.receive();
    return reply!;
  }

  async call(request: unknown): Promise<unknown> {
    return JSON.parse((await this.raw(JSON.stringify(request))).toString('utf8'));
  }

  close(): void {
    this.sock.close();
  }
}

/** One request on a fresh socket (a REQ socket that timed out is stuck, so tests use one per call when faults are on). */
export async function requestOnce(endpoint: string, request: unknown, timeoutMs = 5000): Promise<Buffer> {
  const c = new ReqClient(endpoint, timeoutMs);
  try {
    return await c.raw(typeof request === 'string' ? request : JSON.stringify(request));
  } finally {
    c.close();
  }
}
