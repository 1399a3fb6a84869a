/** The circuit breaker: opening on failures, half-open with one probe, closing again. */
import { describe, expect, it } from 'vitest';
import { Breaker } from '../../src/legs/breaker.js';

function clocked(failureThreshold: number, openMs: number) {
  const clock = { t: 1_000 };
  return { clock, breaker: new Breaker({ failureThreshold, openMs }, () => clock.t) };
}

describe('breaker', () => {
  it('opens after N consecutive timeouts/unavailable and rejects while open', () => {
    const { breaker } = clocked(3, 500);
    for (const failure of ['timeout', 'unavailable'] as const) breaker.record(breaker.admit()!, failure);
    expect(breaker.state).toBe('closed');
    breaker.record(breaker.admit()!, 'timeout');
    expect(breaker.state).toBe('open');
    expect(breaker.admit()).toBeNull();
  });

  it('counts only consecutive failures; a success or a protocol reply resets the count', () => {
    const { breaker } = clocked(2, 500);
    breaker.record(breaker.admit()!, 'timeout');
    breaker.record(breaker.admit()!);
    breaker.record(breaker.admit()!, 'timeout');
    breaker.record(breaker.admit()!, 'protocol');
    breaker.record(breaker.admit()!, 'unavailable');
    expect(breaker.state).toBe('closed');
    breaker.record(breaker.admit()!, 'unavailable');
    expect(breaker.state).toBe('open');
  });

  it('half-opens after openMs with exactly one trial; success closes it', () => {
    const { breaker, clock } = clocked(1, 500);
    breaker.record(breaker.admit()!, 'timeout');
    clock.t += 499;
    expect(breaker.state).toBe('open');
    clock.t += 1;
    expect(breaker.state).toBe('half_open');
    const trial = breaker.admit();
    expect(trial).toBe('trial');
    expect(breaker.admit()).toBeNull();
    breaker.record(trial!);
    expect(breaker.state).toBe('closed');
    expect(breaker.admit()).toBe('normal');
  });

  it('re-opens for another openMs when the trial fails, ignoring stragglers admitted earlier', () => {
    const { breaker, clock } = clocked(1, 500);
    const straggler = breaker.admit()!;
    breaker.record(breaker.admit()!, 'unavailable');
    clock.t += 500;
    const trial = breaker.admit()!;
    breaker.record(straggler); // a success from before the breaker opened decides nothing
    expect(breaker.state).toBe('half_open');
    breaker.record(trial, 'timeout');
    expect(breaker.state).toBe('open');
    clock.t += 499;
    expect(breaker.admit()).toBeNull();
    clock.t += 1;
    expect(breaker.admit()).toBe('trial');
  });
});
