/** The ZeroMQ leg over real sockets: many calls in flight, timeouts, late replies, restarts, bounds. */
import { afterEach, describe, expect, it } from 'vitest';
import * as zmq from 'zeromq';
import { createLeg, type Leg, type LegError, type LegOptions, type LegOutcome } from '../../src/legs/index.js';
import { uninterrupted } from '../../src/legs/zmq-leg.js';
import { deadEndpoint, failureOf, startRep, startReversingRouter } from './backends.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function leg(endpoint: string, opts: Partial<LegOptions> = {}): Leg {
  const l = createLeg(endpoint, { timeoutMs: 5000, breaker: { failureThreshold: 1000, openMs: 1000 }, ...opts });
  cleanups.push(() => l.close());
  return l;
}

async function until<T>(attempt: () => Promise<T>, withinMs: number): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

describe('zmq leg', () => {
  it('round-trips bytes untouched, including bare JSON values', async () => {
    const rep = await startRep();
    cleanups.push(() => rep.close());
    const l = leg(rep.endpoint);
    const binary = Buffer.from([0, 255, 1, 0, 10, 13, 0xc3, 0x28]);
    expect((await l.call(binary)).equals(binary)).toBe(true);
    expect((await l.call('true')).toString()).toBe('true');
    const json = '{"status": "ok", "memories": [{"timestamp": 1.0, "memory": "é ☃"}]}';
    expect((await l.call(json)).toString('utf8')).toBe(json);
    expect(l.stats()).toMatchObject({ ok: 3, failed: 0, inFlight: 0, breaker: 'closed', lastFailure: null });
  });

  it('matches 1,000 concurrent calls to their replies when the backend answers in reverse order', async () => {
    const n = 1000;
    const router = await startReversingRouter(n);
    cleanups.push(() => router.close());
    const l = leg(router.endpoint);
    const payloads = Array.from({ length: n }, (_, i) => `req-${i}`);
    const inFlight = payloads.map((p) => l.call(p));
    expect(l.stats().inFlight).toBe(n);
    const replies = await Promise.all(inFlight);
    expect(replies.map((r) => r.toString())).toEqual(payloads.map((p) => `reply:${p}`));
    // The backend really did answer out of order: the last request sent was the first answered.
    expect(router.replyOrder[0]).not.toBe(router.replyOrder.at(-1));
    expect(router.replyOrder.indexOf('req-0')).toBeGreaterThan(router.replyOrder.indexOf(`req-${n - 1}`));
    expect(l.stats()).toMatchObject({ ok: n, failed: 0, inFlight: 0 });
  });

  it('times a call out without wedging the socket and drops its late reply', async () => {
    const rep = await startRep('tcp://127.0.0.1:*', 400);
    cleanups.push(() => rep.close());
    const l = leg(rep.endpoint);
    // A timeout, not the reply 400 ms later.
    expect(await failureOf(l.call('slow:1', { timeoutMs: 100 }))).toBe('timeout');
    // Queued behind the slow one at the REP backend, so its late reply arrives first and must be dropped.
    expect((await l.call('after-1')).toString()).toBe('after-1');
    expect(rep.answered()).toBe(2);
    expect((await l.call('after-2')).toString()).toBe('after-2');
    expect(l.stats()).toMatchObject({ ok: 2, failed: 1, lastFailure: 'timeout', inFlight: 0 });
  });

  it('fails fast with unavailable when no backend is there', async () => {
    const l = leg(await deadEndpoint(), { timeoutMs: 5000 });
    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      expect(await failureOf(l.call(`x${i}`))).toBe('unavailable');
      // Well before the call's 5 s timeout (a generous bound: CI's cores are shared).
      expect(Date.now() - started).toBeLessThan(4_000);
    }
    expect(l.stats()).toMatchObject({ ok: 0, failed: 3, lastFailure: 'unavailable' });
  });

  it('fails calls in flight at once when the backend goes away', async () => {
    const rep = await startRep();
    const l = leg(rep.endpoint, { timeoutMs: 5000 });
    expect((await l.call('warm')).toString()).toBe('warm');
    const held = l.call('hold:forever');
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    rep.close();
    // It was sent: the backend may have applied it before it went, so its outcome is unknown, not failed.
    expect(await failureOf(held)).toBe('disconnected');
    // At once, not at the call's 5 s timeout.
    expect(Date.now() - started).toBeLessThan(4_000);
  });

  it('counts timed-out calls against its in-flight bound until their late replies come, and sends nothing past it', async () => {
    const rep = await startRep('tcp://127.0.0.1:*', 1500);
    cleanups.push(() => rep.close());
    const l = leg(rep.endpoint, { timeoutMs: 200, maxInFlight: 2 });
    // The calls meant to answer get room on a busy machine; the leg's 200 ms is for those meant to time out.
    expect((await l.call('warm', { timeoutMs: 5000 })).toString()).toBe('warm');
    // A slow backend holds both: they time out, yet it still has them.
    expect(await failureOf(l.call('slow:1'))).toBe('timeout');
    expect(await failureOf(l.call('slow:2'))).toBe('timeout');
    expect(l.stats().inFlight).toBe(2);
    expect(await failureOf(l.call('third'))).toBe('saturated');
    // Refusals for the bound are not the backend's fault: the breaker stays closed.
    expect(l.stats().breaker).toBe('closed');
    // Once the backend has answered both (late, dropped), the leg sends again.
    await until(async () => expect(l.stats().inFlight).toBe(0), 10_000);
    expect((await l.call('fourth', { timeoutMs: 5000 })).toString()).toBe('fourth');
    expect(rep.answered()).toBe(4);
  });

  it('tells with a timeout when the backend is done with the call: at its late reply, or once a new connection had one answer more than the ended one held', async () => {
    const rep = await startRep('tcp://127.0.0.1:*', 1500);
    const l = leg(rep.endpoint, { timeoutMs: 100 });
    const timedOut = async (payload: string) => {
      const err = await l.call(payload).catch((e: unknown) => e);
      expect(err).toMatchObject({ failure: 'timeout' });
      const ended = { at: false };
      void (err as LegError).late!.then(() => (ended.at = true));
      return ended;
    };
    // Connected first: on a busy machine the first connection can take longer than the call's 100 ms, and a call never
    // sent fails as unavailable, not as a timeout (clean-clone run 101).
    await until(async () => expect(l.connection()).toBeGreaterThan(0), 10_000);
    const slow = await timedOut('slow:1');
    // The backend still holds it (1.5 s): it may yet apply it.
    await new Promise((r) => setTimeout(r, 300));
    expect(slow.at).toBe(false);
    await until(async () => expect(slow.at).toBe(true), 10_000);
    expect(rep.answered()).toBe(1);
    // Its connection gone with the call unanswered (as with a process stopped past the heartbeat timeout): the backend
    // may still hold it, and takes requests from its connections in turn, so two answers on the next one (this leg has
    // no probe to ask for them) end it.
    const held = await timedOut('hold:forever');
    rep.close();
    await until(async () => expect(l.stats().inFlight).toBe(0), 10_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(held.at).toBe(false);
    const back = await startRep(rep.endpoint);
    cleanups.push(() => back.close());
    // Given room: the leg's 100 ms is for the calls meant to time out (clean-clone run 110 timed this one out).
    await until(() => l.call('again', { timeoutMs: 5000 }), 10_000);
    expect(held.at).toBe(false);
    await l.call('and again', { timeoutMs: 5000 });
    expect(held.at).toBe(true);
  });

  it('numbers its connections: a reconnect is a new one', async () => {
    const first = await startRep();
    const l = leg(first.endpoint, { timeoutMs: 1000 });
    await l.call('one');
    const before = l.connection();
    expect(before).toBeGreaterThan(0);
    first.close();
    const second = await startRep(first.endpoint);
    cleanups.push(() => second.close());
    await until(() => l.call('two'), 5000);
    expect(l.connection()).toBeGreaterThan(before!);
  });

  it('reconnects to a backend restarted on the same port without recreating the leg', async () => {
    const first = await startRep();
    const l = leg(first.endpoint, { timeoutMs: 1000 });
    expect((await l.call('before')).toString()).toBe('before');
    first.close();
    await until(async () => expect(await failureOf(l.call('while-down'))).toBe('unavailable'), 5000);
    const second = await startRep(first.endpoint);
    cleanups.push(() => second.close());
    const reply = await until(() => l.call('after'), 5000);
    expect(reply.toString()).toBe('after');
    expect(second.answered()).toBeGreaterThanOrEqual(1);
  });

  it('opens the breaker after N failures, rejects with circuit_open, and closes it when the backend connects again', async () => {
    const endpoint = await deadEndpoint();
    const outcomes: LegOutcome[] = [];
    const l = leg(endpoint, {
      timeoutMs: 2000,
      breaker: { failureThreshold: 3, openMs: 60_000 },
      onOutcome: (o) => outcomes.push(o),
    });
    for (let i = 0; i < 3; i++) expect(await failureOf(l.call('x'))).toBe('unavailable');
    expect(l.stats().breaker).toBe('open');
    expect(await failureOf(l.call('x'))).toBe('circuit_open');

    // Long before the open period ends, a new connection proves the backend is back.
    const rep = await startRep(endpoint);
    cleanups.push(() => rep.close());
    await until(async () => (l.stats().breaker === 'closed' ? l.call('back') : Promise.reject(new Error('still open'))), 10_000);
    expect(rep.answered()).toBeGreaterThanOrEqual(1);

    // Every call reported exactly once, with the failure that was thrown.
    const s = l.stats();
    expect(outcomes.length).toBe(s.ok + s.failed);
    expect(outcomes.slice(0, 4).map((o) => o.failure)).toEqual(['unavailable', 'unavailable', 'unavailable', 'circuit_open']);
    expect(outcomes.at(-1)).toMatchObject({ endpoint, ok: true, failure: undefined });
    expect(outcomes.every((o) => o.latencyMs >= 0)).toBe(true);
  });

  it('with waitForConnection, holds a call while the backend is away and sends it when it connects', async () => {
    const endpoint = await deadEndpoint();
    const l = leg(endpoint, { timeoutMs: 10_000, waitForConnection: true, breaker: { failureThreshold: 3, openMs: 60_000 } });
    const held = l.call('held');
    await new Promise((r) => setTimeout(r, 300));
    const rep = await startRep(endpoint);
    cleanups.push(() => rep.close());
    expect((await held).toString()).toBe('held');
    // One that never finds its backend fails 'unavailable' (never sent: its outcome is known) at its timeout.
    const lost = leg(await deadEndpoint(), { timeoutMs: 300, waitForConnection: true, breaker: { failureThreshold: 3, openMs: 1000 } });
    expect(await failureOf(lost.call('nobody'))).toBe('unavailable');
  });

  it('rejects pending and later calls with closed when the leg closes', async () => {
    const rep = await startRep();
    cleanups.push(() => rep.close());
    const l = leg(rep.endpoint);
    expect((await l.call('warm')).toString()).toBe('warm');
    const held = l.call('hold:1');
    await new Promise((r) => setTimeout(r, 20));
    await l.close();
    expect(await failureOf(held)).toBe('closed');
    expect(await failureOf(l.call('after'))).toBe('closed');
    expect(l.stats()).toMatchObject({ inFlight: 0, lastFailure: 'closed' });
  });

  it('sets its event observer up again when a signal interrupted libzmq (EINTR), and only then', () => {
    const sock = new zmq.Dealer({ linger: 0 });
    cleanups.push(() => sock.close());
    const interrupted = (failures: number, code: string) => {
      let attempts = 0;
      const wrapped = {
        get events(): zmq.Observer {
          if (++attempts <= failures) throw Object.assign(new Error('Interrupted system call'), { code });
          return sock.events;
        },
      };
      return { wrapped, attempts: () => attempts };
    };
    const twice = interrupted(2, 'EINTR');
    expect(uninterrupted(() => twice.wrapped.events)).toBe(sock.events);
    expect(twice.attempts()).toBe(3);
    const other = interrupted(1, 'EFAULT');
    expect(() => uninterrupted(() => other.wrapped.events)).toThrow('Interrupted system call');
    expect(other.attempts()).toBe(1);
  });
});
