/**
 * The reference the proxy bench sets beside memshift: a bare zeromq.js ROUTER -> DEALER forwarder with
 * memshift's socket options but no parsing and no logic, i.e. the floor for any proxy built on
 * zeromq.js on the same machine. With a second backend it also sends every request there (its reply read
 * and dropped): the floor for shadowing every read and dual-writing every write, before any parsing or comparing.
 * Run as a child process: forwarder.ts <bind endpoint> <backend endpoint> [<second backend endpoint>].
 */
import { backDealer, callIdFrame, dropped, EMPTY, frontRouter } from './forwarder-sockets.js';

const [bind, backend, second] = process.argv.slice(2);
if (!bind || !backend) throw new Error('usage: forwarder.ts <bind endpoint> <backend endpoint> [<second backend endpoint>]');
const front = frontRouter();
const back = backDealer(backend);
const copies = second ? backDealer(second) : undefined;
await front.bind(bind);
// The envelope travels with the message and the REP backend echoes it: replies route themselves.
// Receiving as memshift does (receive() itself, not the async iterator), so only the logic differs.
let calls = 0;
void (async () => {
  for (;;) {
    const message = await front.receive();
    back.send(message).catch(dropped);
    if (!copies) continue;
    // As memshift's legs send a call: a call id, the delimiter, the body.
    copies.send([callIdFrame((calls = (calls + 1) >>> 0)), EMPTY, message.at(-1)!]).catch(dropped);
  }
})();
if (copies)
  void (async () => {
    for (;;) await copies.receive();
  })();
for (;;) front.send(await back.receive()).catch(dropped);
