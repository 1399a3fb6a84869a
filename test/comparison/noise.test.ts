/** The noise baseline's rule: a field is noise only while its A/A share of differences explains its A/B share. */
import { describe, expect, it } from 'vitest';
import { NoiseBaseline } from '../../src/comparison/noise.js';
import type { FieldDiff } from '../../src/comparison/compare.js';

const diff = (field: string): FieldDiff => ({ path: field, field, kind: 'content', legacy: 1, new: 2 });
const R = 'jarvis-memory/get_memories';

function baseline(aaPairs: number, aaDiffering: Record<string, number>): NoiseBaseline {
  const b = new NoiseBaseline({ share: 0, minReads: 20, explains: 0.5 }, () => 1);
  for (let i = 0; i < aaPairs; i++)
    b.learn(
      R,
      Object.entries(aaDiffering).flatMap(([f, n]) => (i < n ? [diff(f)] : [])),
    );
  return b;
}

describe('NoiseBaseline', () => {
  it('reads legacy twice for every read of a route until it has its minimum of A/A pairs, then a share', () => {
    const b = new NoiseBaseline({ share: 0.1, minReads: 3, explains: 0.5 }, () => 0.5);
    expect([b.sample(R), b.sample(R), b.sample(R)]).toEqual([true, true, true]);
    for (let i = 0; i < 3; i++) b.learn(R, []);
    expect(b.sample(R)).toBe(false);
    const lucky = new NoiseBaseline({ share: 0.1, minReads: 0, explains: 0.5 }, () => 0.05);
    expect(lucky.sample(R)).toBe(true);
  });

  it('discounts a field that differs between two legacy reads as often as between legacy and new', () => {
    const b = baseline(40, { served: 40 });
    const { real, noise } = b.discount(R, [diff('served'), diff('memories[].memory')]);
    expect(noise.map((d) => d.field)).toEqual(['served']);
    expect(real.map((d) => d.field)).toEqual(['memories[].memory']);
  });

  it('does not discount a field whose A/A share is far below its A/B share (a real divergence on a slightly noisy field)', () => {
    const b = baseline(100, { 'memories[].timestamp': 2 });
    let discounted = 0;
    for (let i = 0; i < 50; i++) discounted += b.discount(R, [diff('memories[].timestamp')]).noise.length;
    // 2% of A/A pairs differ, 100% of A/B comparisons do: after the first few, none is discounted.
    expect(discounted).toBeLessThan(5);
    const figures = b
      .figures()
      .find((f) => f.route === R)!
      .fields.find((f) => f.field === 'memories[].timestamp')!;
    expect(figures).toMatchObject({ aaShare: 0.02, abShare: 1, noise: false });
  });

  it("learns nothing from too few A/A pairs, but the read's own pair discounts its noise", () => {
    const b = baseline(5, { served: 5 });
    expect(b.discount(R, [diff('served')]).real).toHaveLength(1);
    expect(b.discount(R, [diff('served')], new Set(['served'])).noise).toHaveLength(1);
  });

  it('a field never seen differing in A/A is never noise, however often it differs A/B', () => {
    const b = baseline(100, {});
    for (let i = 0; i < 20; i++) expect(b.discount(R, [diff('memories[].memory.diverged')]).real).toHaveLength(1);
  });
});
