/** Which toggles are on whatever the request (so a decision is worked out once): checked against unleash-client's own answers. */
import { afterEach, describe, expect, it } from 'vitest';
import { Unleash, type Context } from 'unleash-client';
import { onForEveryone, type FeatureDefinition } from '../../src/flags/definitions.js';
import { FileFlagRepository } from '../../src/flags/file-repository.js';
import { TempFlags } from './helpers.js';

const strategy = (name: string, parameters: Record<string, string> = {}, constraints: unknown[] = []) => ({ name, parameters, constraints });
const rolloutAt = (rollout: number, stickiness: string) => strategy('flexibleRollout', { rollout: String(rollout), stickiness, groupId: 'g' });
const feature = (name: string, more: Record<string, unknown>) => ({ name, enabled: true, impressionData: false, strategies: [strategy('default')], ...more });

/** Each toggle, and whether it should count as on for everyone. */
const cases: [ReturnType<typeof feature>, boolean][] = [
  [feature('default', {}), true],
  [feature('no-strategy', { strategies: [] }), true],
  [feature('random-100', { strategies: [rolloutAt(100, 'random')] }), true],
  [feature('default-100', { strategies: [rolloutAt(100, 'default')] }), true],
  [feature('second-strategy-takes-all', { strategies: [rolloutAt(10, 'random'), strategy('default')] }), true],
  // Sticky on a context field: false when the request has none.
  [feature('session-100', { strategies: [rolloutAt(100, 'sessionId')] }), false],
  [feature('random-50', { strategies: [rolloutAt(50, 'random')] }), false],
  [feature('constrained', { strategies: [strategy('default', {}, [{ contextName: 'service', operator: 'IN', values: ['jarvis-memory'] }])] }), false],
  [feature('off', { enabled: false }), false],
  [feature('child-of-off', { dependencies: [{ feature: 'off' }] }), false],
  // Always on, but each answer is an impression event: left to Unleash.
  [feature('impressions', { impressionData: true }), false],
];

const contexts: Context[] = [{}, { sessionId: 's-1' }, { userId: 'u-1' }, { sessionId: 's-2', userId: 'u-2', properties: { service: 'session-memory' } }];

let temps: TempFlags[] = [];
afterEach(async () => {
  await Promise.all(temps.map((t) => t.dispose()));
  temps = [];
});

describe('onForEveryone', () => {
  it('holds only for toggles unleash-client answers true for every request', async () => {
    const t = await TempFlags.create();
    temps.push(t);
    await t.writeRaw(JSON.stringify({ version: 2, features: cases.map(([f]) => f) }));
    const unleash = new Unleash({
      appName: 'everyone-test',
      url: 'http://offline.invalid/api/',
      repository: new FileFlagRepository(t.file),
      disableMetrics: true,
      disableAutoStart: true,
      skipInstanceCountWarning: true,
    });
    await unleash.start();
    try {
      for (const [f, expected] of cases) {
        const everyone = onForEveryone(unleash.getFeatureToggleDefinition(f.name) as FeatureDefinition);
        // 200 draws per context: a 50% rollout is false in some with certainty (2^-200 otherwise).
        const answers = contexts.flatMap((c) => Array.from({ length: 200 }, () => unleash.isEnabled(f.name, c)));
        expect({ name: f.name, everyone }).toEqual({ name: f.name, everyone: expected });
        if (everyone) expect({ name: f.name, all: answers.every(Boolean) }).toEqual({ name: f.name, all: true });
        else if (f.name !== 'impressions') expect({ name: f.name, all: answers.every(Boolean) }).toEqual({ name: f.name, all: false });
      }
    } finally {
      unleash.destroy();
    }
  });
});
