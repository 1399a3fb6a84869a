/** Whether a clear landed, told from what the key holds after it and the key's writes made since (legacy-lookup.ts clearLanded). */
import { createHash } from 'node:crypto';
import { expect, it } from 'vitest';
import { clearLanded } from '../../src/services/legacy-lookup.js';

// The effect a later write's outbox row keeps, written out here rather than taken from the module under test.
const adds = (record: string) => `adds:${createHash('sha256').update(record).digest('hex')}`;

it('landed: every record is one a later write made, or none is left', () => {
  expect(clearLanded([], [])).toBe(true);
  expect(clearLanded(['{"n":2}'], [adds('{"n":2}')])).toBe(true);
  // A later write not landed yet, a clear among them: nothing to account for.
  expect(clearLanded(['{"n":2}'], [adds('{"n":2}'), adds('{"n":3}'), 'clears'])).toBe(true);
});

it('not landed: a record no later write made was there before the clear', () => {
  expect(clearLanded(['{"n":0}'], [])).toBe(false);
  expect(clearLanded(['{"n":0}', '{"n":2}'], [adds('{"n":2}')])).toBe(false);
});

it('records counted: one later write accounts for one of two equal records, not both', () => {
  expect(clearLanded(['{"same":true}', '{"same":true}'], [adds('{"same":true}')])).toBe(false);
  expect(clearLanded(['{"same":true}', '{"same":true}'], [adds('{"same":true}'), adds('{"same":true}')])).toBe(true);
});
