/** A comparison's time differences read as one offset apart (a zone, a clock) only when they all agree. */
import { expect, it } from 'vitest';
import { dominantOffset, offsetLabel, steadyOffsetS } from '../../src/comparison/offset.js';
import type { FieldDiff } from '../../src/comparison/compare.js';

const diff = (legacy: unknown, neu: unknown, kind: FieldDiff['kind'] = 'timestamp'): FieldDiff => ({ path: 'x', field: 'x', kind, legacy, new: neu });

it('rounds a zone to its quarter hour and a clock to its second, new minus legacy', () => {
  expect(steadyOffsetS([diff('2026-11-28T00:50:07.123456', '2026-11-27T19:05:08.2')])).toBe(-20_700);
  expect(steadyOffsetS([diff('2026-11-27T19:05:07', '2026-11-27T22:35:06.5'), diff('2026-11-27T19:06:00', '2026-11-27T22:36:01')])).toBe(12_600);
  expect(steadyOffsetS([diff(1_795_806_307.25, 1_795_806_309.6)])).toBe(2);
  expect(offsetLabel(-20_700)).toBe('-5:45:00');
  expect(offsetLabel(2)).toBe('+2 s');
});

it('reads no offset where the differences disagree, are not times, or round to none', () => {
  expect(steadyOffsetS([diff('2026-11-27T19:05:07', '2026-11-27T19:05:10'), diff('2026-11-27T19:06:00', '2026-11-27T20:06:00')])).toBeUndefined();
  expect(steadyOffsetS([diff('2026-11-27T19:05:07', 'soon')])).toBeUndefined();
  expect(steadyOffsetS([diff('a', 'b', 'content')])).toBeUndefined();
  expect(steadyOffsetS([diff(1_795_806_307.25, 1_795_806_307.4)])).toBeUndefined();
  // A content difference beside steady times leaves the offset to the times.
  expect(steadyOffsetS([diff('a', 'b', 'content'), diff(1_795_806_307, 1_795_806_310.1)])).toBe(3);
});

it('names the offset most of the day’s timestamp differences showed, not one that a few did', () => {
  expect(dominantOffset({ '-20700': 9, '2': 1 }, 10)).toEqual({ offsetS: -20_700, count: 9 });
  expect(dominantOffset({ '-20700': 7, '2': 1 }, 10)).toBeUndefined();
  expect(dominantOffset({}, 0)).toBeUndefined();
});
