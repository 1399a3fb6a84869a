/**
 * The reference the proxy bench sets beside memshift: a bare zeromq.js ROUTER -> DEALER forwarder with
 * memshift's socket options but no parsing and no logic, i.e. the floor for any proxy built on
 * zeromq.js on the same machine. Run as a child process: forwarder.ts <bind endpoint> <backend endpoint>.
 */
import * as zmq from 'zeromq';

const [bind, backend] = process.argv.slice(2);
if (!bind || !backend) throw new Error('usage: forwarder.ts <bind endpoint> <backend endpoint>');
const front = new zmq.Router({ sendTimeout: 0, linger: 0 });
const back = new zmq.Dealer({ sendTimeout: 0, immediate: true, sendHighWaterMark: 100_000, receiveHighWaterMark: 100_000, linger: 0 });
await front.bind(bind);
back.connect(backend);
// The envelope travels with the message and the REP backend echoes it: replies route themselves.
// Receiving as memshift does (receive() itself, not the async iterator), so only the logic differs.
const dropped = (): void => undefined;
void (async () => {
  for (;;) back.send(await front.receive()).catch(dropped);
})();
for (;;) front.send(await back.receive()).catch(dropped);
