/** Stages derived from flags, and the shipped flags/memshift.json checked against the flag names. */
import { describe, expect, it } from 'vitest';
import { parseFlagDefinitions, definitionState, type FeatureDefinition } from '../../src/flags/definitions.js';
import { allFlagNames, flagName, KILL_SWITCH, rolloutStickiness, FLAG_KINDS } from '../../src/flags/names.js';
import { deriveStage, STAGES, type FlagStates, type Stage } from '../../src/flags/stage.js';
import { serviceNames, serviceOf } from '../../src/services/registry.js';
import { shippedDoc } from './helpers.js';

const s = 'contextual-memory' as const;
const n = (k: Parameters<typeof flagName>[1]) => flagName(s, k);

describe('deriveStage', () => {
  const cases: Array<[Stage, FlagStates]> = [
    ['off', {}],
    ['off', { [n('dual-write')]: { enabled: false }, [n('read-new')]: { enabled: true, rollout: 0 } }],
    ['dual-write', { [n('dual-write')]: { enabled: true } }],
    ['shadow', { [n('dual-write')]: { enabled: true }, [n('shadow-read')]: { enabled: true, rollout: 10 } }],
    // A rollout flag enabled at 0% selects nothing.
    ['dual-write', { [n('dual-write')]: { enabled: true }, [n('shadow-read')]: { enabled: true, rollout: 0 } }],
    ['cutover', { [n('shadow-read')]: { enabled: true, rollout: 10 }, [n('read-new')]: { enabled: true, rollout: 25 } }],
    ['new-primary', { [n('read-new')]: { enabled: true, rollout: 100 }, [n('new-primary')]: { enabled: true } }],
    ['complete', { [n('new-primary')]: { enabled: true }, [n('legacy-off')]: { enabled: true } }],
    ['killed', { [n('legacy-off')]: { enabled: true }, [KILL_SWITCH]: { enabled: true } }],
    // A forced-off flag is carried as enabled: false.
    ['dual-write', { [n('dual-write')]: { enabled: true }, [n('read-new')]: { enabled: false, rollout: 50, forcedOff: true } }],
  ];
  it.each(cases)('derives %s', (stage, flags) => {
    expect(deriveStage(s, flags)).toBe(stage);
  });

  it('covers every stage and only looks at its own service', () => {
    expect(new Set(cases.map(([st]) => st))).toEqual(new Set(STAGES));
    expect(deriveStage('jarvis-memory', { [n('legacy-off')]: { enabled: true } })).toBe('off');
  });

  it('takes the kill switch as an argument over the flags', () => {
    expect(deriveStage(s, { [n('dual-write')]: { enabled: true } }, true)).toBe('killed');
    expect(deriveStage(s, { [KILL_SWITCH]: { enabled: true } }, false)).toBe('off');
  });
});

describe('flags/memshift.json', () => {
  it('defines all 16 flags, each off, described, rollouts at 0% sticky as the catalog says', async () => {
    const doc = await shippedDoc();
    const parsed = parseFlagDefinitions(JSON.stringify(doc));
    expect(parsed.ok).toBe(true);
    expect(doc.version).toBe(2);
    expect(doc.features.map((f) => f.name).sort()).toEqual([...allFlagNames()].sort());
    expect(allFlagNames()).toHaveLength(16);
    for (const f of doc.features) {
      expect(f.enabled, f.name).toBe(false);
      expect((f as { description?: string }).description?.length, f.name).toBeGreaterThan(20);
    }
    for (const svc of serviceNames()) {
      for (const kind of FLAG_KINDS) {
        const f = doc.features.find((x) => x.name === flagName(svc, kind))!;
        const stickiness = rolloutStickiness(svc, kind);
        if (stickiness === undefined) {
          expect(
            f.strategies.map((x) => x.name),
            f.name,
          ).toEqual(['default']);
        } else {
          expect(f.strategies, f.name).toEqual([
            expect.objectContaining({ name: 'flexibleRollout', parameters: { rollout: '0', stickiness, groupId: f.name } }),
          ]);
          expect(definitionState(f as FeatureDefinition)).toEqual({ enabled: false, rollout: 0 });
        }
      }
    }
    expect(rolloutStickiness('jarvis-memory', 'read-new')).toBe(serviceOf('jarvis-memory').stickyOn);
    expect(rolloutStickiness('session-memory', 'read-new')).toBe('sessionId');
  });
});

describe('parseFlagDefinitions', () => {
  it('rejects bad JSON, bad shapes, bad rollouts and duplicates with a message', () => {
    const bad = [
      '{"version": 2, "features": [',
      '{"version": 2}',
      '{"version": 2, "features": [{"name": "a", "enabled": "yes", "strategies": []}]}',
      '{"version": 2, "features": [{"name": "a", "enabled": true, "strategies": [{"name": "flexibleRollout", "parameters": {"rollout": "5O"}}]}]}',
      '{"version": 2, "features": [{"name": "a", "enabled": true, "strategies": [{"name": "flexibleRollout", "parameters": {"rollout": 150}}]}]}',
      '{"version": 2, "features": [{"name": "a", "enabled": true, "strategies": []}, {"name": "a", "enabled": false, "strategies": []}]}',
    ];
    for (const text of bad) {
      const r = parseFlagDefinitions(text);
      expect(r.ok, text).toBe(false);
      if (!r.ok) expect(r.error.length).toBeGreaterThan(0);
    }
    expect(
      parseFlagDefinitions(
        '{"version": 2, "features": [{"name": "a", "enabled": true, "strategies": [{"name": "flexibleRollout", "parameters": {"rollout": 40}}]}]}',
      ).ok,
    ).toBe(true);
  });
});
