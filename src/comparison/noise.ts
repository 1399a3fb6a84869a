/**
 * The A/A noise baseline (as Diffy runs two copies of the primary): a sampled share of shadowed reads also
 * reads legacy a second time; fields that differ between two reads of the same side are noise, learned per
 * route and field, and discounted from A/B differences while the A/A share explains the A/B share.
 */
import type { FieldDiff } from './compare.js';

export interface NoiseOptions {
  /** Share of shadowed reads that also read legacy twice, once a route has its first `minReads` A/A pairs. */
  share: number;
  /**
   * A/A pairs a route needs before its learned figures discount anything: until then every shadowed read of
   * it reads legacy twice (a new route learns at once), and its own pair discounts its noise.
   */
  minReads: number;
  /** A field is noise while its A/A share of differences is at least this fraction of its A/B share. */
  explains: number;
}

/** One field's figures on one route, as the report and admin status show them. */
export interface NoiseField {
  field: string;
  aaShare: number;
  abShare: number;
  noise: boolean;
}

interface RouteFigures {
  aaReads: number;
  abReads: number;
  aaDiffs: Map<string, number>;
  abDiffs: Map<string, number>;
}

/** Fields tracked per route: a flood of distinct paths must not grow memory without bound. */
const MAX_FIELDS = 200;

export class NoiseBaseline {
  private readonly routes = new Map<string, RouteFigures>();

  constructor(
    private readonly opts: NoiseOptions,
    private readonly random: () => number = Math.random,
  ) {}

  /** Whether this shadowed read of the route should also read legacy a second time. */
  sample(route: string): boolean {
    return this.of(route).aaReads < this.opts.minReads || this.random() < this.opts.share;
  }

  /** Learns from two reads of legacy for the same request: the fields that differed between them. */
  learn(route: string, diffs: readonly FieldDiff[]): Set<string> {
    const r = this.of(route);
    r.aaReads++;
    const fields = new Set(diffs.map((d) => d.field));
    for (const f of fields) bump(r.aaDiffs, f);
    return fields;
  }

  /**
   * Splits an A/B comparison's differences into real ones and noise, and counts them into the A/B figures.
   * `own`: the fields that differed in this very request's A/A pair, noise for it whatever was learned.
   */
  discount(route: string, diffs: readonly FieldDiff[], own?: ReadonlySet<string>): { real: FieldDiff[]; noise: FieldDiff[] } {
    const r = this.of(route);
    r.abReads++;
    for (const f of new Set(diffs.map((d) => d.field))) bump(r.abDiffs, f);
    const real: FieldDiff[] = [];
    const noise: FieldDiff[] = [];
    for (const d of diffs) (own?.has(d.field) || this.isNoise(r, d.field) ? noise : real).push(d);
    return { real, noise };
  }

  /** Every route's fields that differed in either kind of pair. */
  figures(): { route: string; aaReads: number; abReads: number; fields: NoiseField[] }[] {
    return [...this.routes].map(([route, r]) => ({
      route,
      aaReads: r.aaReads,
      abReads: r.abReads,
      fields: [...new Set([...r.aaDiffs.keys(), ...r.abDiffs.keys()])].sort().map((field) => ({
        field,
        aaShare: share(r.aaDiffs.get(field), r.aaReads),
        abShare: share(r.abDiffs.get(field), r.abReads),
        noise: this.isNoise(r, field),
      })),
    }));
  }

  private isNoise(r: RouteFigures, field: string): boolean {
    const aa = r.aaDiffs.get(field) ?? 0;
    if (r.aaReads < this.opts.minReads || aa === 0) return false;
    return share(aa, r.aaReads) >= this.opts.explains * share(r.abDiffs.get(field), r.abReads);
  }

  private of(route: string): RouteFigures {
    let r = this.routes.get(route);
    if (!r) this.routes.set(route, (r = { aaReads: 0, abReads: 0, aaDiffs: new Map(), abDiffs: new Map() }));
    return r;
  }
}

const share = (n: number | undefined, of: number): number => (of > 0 ? (n ?? 0) / of : 0);

function bump(m: Map<string, number>, field: string): void {
  const n = m.get(field);
  if (n !== undefined || m.size < MAX_FIELDS) m.set(field, (n ?? 0) + 1);
}
