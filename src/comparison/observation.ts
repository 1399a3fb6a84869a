/**
 * One side's answer to one request, observed: which side, how long it took, and the reply both as wire
 * bytes and as a value. Each form is made only when asked for: a passthrough never parses what it forwards.
 */
import { pyDumps, pyLoads } from '../util/pyjson.js';

export type Side = 'legacy' | 'new';

export class Observation {
  private parsed?: { value: unknown };
  private wire?: Buffer;

  constructor(
    readonly side: Side,
    readonly latencyMs: number,
    reply: { bytes: Buffer } | { value: unknown },
  ) {
    if ('bytes' in reply) this.wire = reply.bytes;
    else this.parsed = { value: reply.value };
  }

  get bytes(): Buffer {
    return (this.wire ??= Buffer.from(pyDumps(this.parsed!.value)));
  }

  get value(): unknown {
    return (this.parsed ??= { value: parseReply(this.wire!) }).value;
  }
}

/** Replies are JSON as Python writes it (numbers kept as spelt); one that is not is kept as its text so it can still be passed on and compared. */
export function parseReply(bytes: Buffer): unknown {
  try {
    return pyLoads(bytes);
  } catch {
    return bytes.toString('utf8');
  }
}
