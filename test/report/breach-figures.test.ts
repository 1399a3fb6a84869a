/** A guard breach as the report, the console and the demo print it: the figure never reads equal to its threshold. */
import { expect, it } from 'vitest';
import { breach } from '../../src/report/format.js';

it('prints a rate or latency just past its threshold with the decimals that show it past', () => {
  // The demo printed "mismatchRate 0.10% > 0.10% (1,984 samples)" for 2 mismatches in 1,984.
  expect(breach({ rule: 'mismatchRate', value: 2 / 1984, threshold: 0.001, samples: 1984 })).toBe('mismatchRate 0.101% > 0.10% (1,984 samples)');
  expect(breach({ rule: 'mismatchRate', value: 0.0059, threshold: 0.001, samples: 171 })).toBe('mismatchRate 0.59% > 0.10% (171 samples)');
  expect(breach({ rule: 'errorRate', value: 0.1200001, threshold: 0.12, samples: 300 })).toBe('errorRate 12.00001% > 12.0% (300 samples)');
  expect(breach({ rule: 'addedLatencyMs', value: 100.04, threshold: 100, samples: 150 })).toBe('addedLatencyMs 100.04 ms > 100.0 ms (150 samples)');
});
