/**
 * The line a chat tool shows of a guard event (its webhook payload's `text`), for where the rollback's flag changes
 * stand: in Unleash, where a person looking at the flags sees them, or held by memshift alone (no admin token, flags
 * from a file, Unleash failing), where the flags still show the stage rolled back from.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { notifyWebhooks, type GuardEvent } from '../../src/guard/events.js';
import { startSlackLike, type SlackLike } from '../support/slack-like.js';

const S = 'jarvis-memory';
let slack: SlackLike;
beforeAll(async () => {
  slack = await startSlackLike();
});
afterAll(() => slack?.close());

const rollback = (unleash: GuardEvent['unleash']): GuardEvent => ({
  id: 7,
  at: '2026-11-28T06:00:00.000Z',
  service: S,
  stage: 'cutover',
  breaches: [{ rule: 'errorRate', value: 0.2, threshold: 0.01, samples: 300, minSamples: 200 }],
  figures: {} as GuardEvent['figures'],
  flagsChanged: [
    { flag: `memshift.${S}.read-new`, to: 'off' },
    { flag: `memshift.${S}.shadow-read`, to: 'off' },
  ],
  unleash,
  replica: 'pod-a',
});

const textOf = async (e: GuardEvent) => {
  const before = slack.posted.length;
  await notifyWebhooks([slack.url], e);
  expect(slack.posted).toHaveLength(before + 1);
  return slack.posted.at(-1)!.text;
};

it('says whether the flags show the rollback, and why not', async () => {
  const both = [`memshift.${S}.read-new`, `memshift.${S}.shadow-read`];
  expect(await textOf(rollback({ changed: both }))).toContain('Dual writes kept; read-new off, shadow-read off in Unleash; resume with');
  expect(await textOf(rollback({ changed: [], skipped: 'flags come from a file' }))).toContain(
    'Dual writes kept; read-new off, shadow-read off held by memshift, not in the flags (flags come from a file) until resumed; resume with',
  );
  expect(await textOf(rollback({ changed: [both[0]!], error: 'Unleash answered 503' }))).toContain(
    'held by memshift, not in the flags (Unleash failed: Unleash answered 503) until resumed',
  );
});

it('gives a figure just over its threshold the decimals that show it over (not 0.1% over 0.1%)', async () => {
  const trip = {
    ...rollback({ changed: [] }),
    breaches: [{ rule: 'mismatchRate' as const, value: 2 / 1984, threshold: 0.001, samples: 1984, minSamples: 1000 }],
  };
  expect(await textOf(trip)).toContain('mismatch rate 0.101% over 0.1% (1984 samples)');
  const slow = { ...trip, breaches: [{ rule: 'addedLatencyMs' as const, value: 100.4, threshold: 100, samples: 150, minSamples: 100 }] };
  expect(await textOf(slow)).toContain('added p99 100.4 ms over 100 ms (150 samples)');
});
