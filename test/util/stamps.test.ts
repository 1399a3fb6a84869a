/** Record times memshift makes: strictly increasing per legacy key, and one key's late copy leaves another's time alone. */
import { expect, it } from 'vitest';
import { stampMicros } from '../../src/util/stamps.js';

it('keeps a key strictly increasing, and a newer write of one key does not move an older write of another', () => {
  const t = new Date('2026-01-01T00:00:00Z');
  const later = new Date(t.getTime() + 10_000);
  // Drained after an outage: key b's newer write is copied before key a's older ones.
  expect(stampMicros('svc\u0000b', later)).toBe(later.getTime() * 1000);
  expect(stampMicros('svc\u0000a', t)).toBe(t.getTime() * 1000);
  // Two records of one key at the same millisecond stay in order.
  expect(stampMicros('svc\u0000a', t)).toBe(t.getTime() * 1000 + 1);
  expect(stampMicros('svc\u0000a', new Date(t.getTime() - 5))).toBe(t.getTime() * 1000 + 2);
});
