/** What the bench's reference forwarders share: memshift's own socket options (so only the logic differs) and its call-id frames. */
import * as zmq from 'zeromq';

export const EMPTY = Buffer.alloc(0);

/** A send whose failure the forwarders ignore, as a ROUTER drops what a vanished peer cannot take. */
export const dropped = (): void => undefined;

/** The agents' side: a ROUTER as memshift's fronts open it. */
export const frontRouter = (): zmq.Router => new zmq.Router({ sendTimeout: 0, linger: 0 });

/** A backend's side, connected: a DEALER as memshift's legs open it. */
export function backDealer(endpoint: string): zmq.Dealer {
  const socket = new zmq.Dealer({
    sendTimeout: 0,
    immediate: true,
    sendHighWaterMark: 100_000,
    receiveHighWaterMark: 100_000,
    linger: 0,
    // memshift's legs' default heartbeat (LegOptions.heartbeatTimeoutMs 5 s, a ping a second).
    heartbeatInterval: 1_000,
    heartbeatTimeout: 5_000,
  });
  socket.connect(endpoint);
  return socket;
}

/** A call id as memshift's legs frame it: four bytes, big-endian. */
export function callIdFrame(id: number): Buffer {
  const frame = Buffer.allocUnsafe(4);
  frame.writeUInt32BE(id);
  return frame;
}
