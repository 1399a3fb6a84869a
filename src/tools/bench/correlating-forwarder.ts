/**
 * The proxy bench's second floor: the least a proxy does to give an agent a clear error when its backend hangs.
 * A zeromq.js ROUTER -> DEALER like the bare forwarder, but each request is read (JSON.parse, as a router must to
 * find its key) and sent under a call id of its own with a timer, and its reply goes back to the agent's envelope,
 * or an error reply when the timer fires first: no flags, no metrics, no translation.
 * Run as a child process: correlating-forwarder.ts <bind endpoint> <backend endpoint>.
 */
import { backDealer, callIdFrame, dropped, EMPTY, frontRouter } from './forwarder-sockets.js';

const [bind, backend] = process.argv.slice(2);
if (!bind || !backend) throw new Error('usage: correlating-forwarder.ts <bind endpoint> <backend endpoint>');
const TIMEOUT_MS = 5_000;
const TIMED_OUT = Buffer.from(JSON.stringify({ status: 'error', message: 'backend did not answer in time' }));
const front = frontRouter();
const back = backDealer(backend);
await front.bind(bind);

/** Calls under way: the agent's envelope (everything before its body) and the call's timer. */
const pending = new Map<number, { envelope: Buffer[]; timer: NodeJS.Timeout }>();
const answer = (envelope: Buffer[], body: Buffer): void => void front.send([...envelope, body]).catch(dropped);
const take = (id: number) => {
  const call = pending.get(id);
  pending.delete(id);
  return call;
};
const timedOut = (id: number): void => {
  const call = take(id);
  if (call) answer(call.envelope, TIMED_OUT);
};

let calls = 0;
void (async () => {
  for (;;) {
    const frames = await front.receive();
    const body = frames.at(-1)!;
    try {
      JSON.parse(body.toString());
    } catch {
      // Passed on all the same: the backend answers bad input in its own words.
    }
    const id = (calls = (calls + 1) >>> 0);
    pending.set(id, { envelope: frames.slice(0, -1), timer: setTimeout(timedOut, TIMEOUT_MS, id) });
    back.send([callIdFrame(id), EMPTY, body]).catch(dropped);
  }
})();
for (;;) {
  const [idFrame, , reply] = await back.receive();
  const call = idFrame?.length === 4 && reply ? take(idFrame.readUInt32BE(0)) : undefined;
  if (!call) continue;
  clearTimeout(call.timer);
  answer(call.envelope, reply!);
}
