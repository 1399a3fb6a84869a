/**
 * A leg is one call wrapped in small layers, as undici composes interceptors: each wrapper takes the next
 * call and returns one that does its one thing around it (refuse, bound, break, time, name the failure).
 */
import type { Breaker } from './breaker.js';
import { LegError, type LegFailure } from './types.js';

/** One exchange: the payload out, the reply back. */
export type Call = (payload: Buffer, timeoutMs: number) => Promise<Buffer>;
export type Wrapper = (next: Call) => Call;

/** `call` inside `wrappers`, the first outermost. */
export const compose = (call: Call, ...wrappers: Wrapper[]): Call => wrappers.reduceRight((next, wrap) => wrap(next), call);

/** Refuses the call, without sending it, whenever `refusal` names a reason. */
export const refuseWhen =
  (refusal: () => LegError | undefined): Wrapper =>
  (next) =>
  (payload, timeoutMs) => {
    const err = refusal();
    return err ? Promise.reject(err) : next(payload, timeoutMs);
  };

/** Admits calls through the breaker and tells it how each admitted one went. */
export const breakerWrapper =
  (breaker: Breaker, refused: () => LegError): Wrapper =>
  (next) =>
  (payload, timeoutMs) => {
    const permit = breaker.admit();
    if (permit === null) return Promise.reject(refused());
    return next(payload, timeoutMs).then(
      (reply) => {
        breaker.record(permit);
        return reply;
      },
      (err: LegError) => {
        breaker.record(permit, err.failure);
        throw err;
      },
    );
  };

/** Whatever a transport throws leaves the leg as a LegError ('protocol' unless it says otherwise). */
export const asLegError =
  (endpoint: string): Wrapper =>
  (next) =>
  (payload, timeoutMs) =>
    next(payload, timeoutMs).catch((err: unknown) => {
      throw err instanceof LegError ? err : new LegError('protocol', String(err), endpoint);
    });

/** Times every call, refused ones included, and reports its outcome. */
export const timed =
  (report: (latencyMs: number, failure: LegFailure | undefined) => void): Wrapper =>
  (next) =>
  async (payload, timeoutMs) => {
    const started = performance.now();
    let failure: LegFailure | undefined;
    try {
      return await next(payload, timeoutMs);
    } catch (err) {
      failure = (err as LegError).failure;
      throw err;
    } finally {
      report(performance.now() - started, failure);
    }
  };
