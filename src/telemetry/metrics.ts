/**
 * memshift's metric instruments, declared by the modules that own them (process-wide, like the OTel global
 * they come from): counters and histograms made lazily from the current meter provider, and gauges that
 * read whatever sources running proxies registered.
 */
import { metrics, type Attributes, type Counter, type Histogram } from '@opentelemetry/api';
import { childLogger } from './log.js';

const log = childLogger('telemetry');

interface InstrumentOptions {
  description: string;
  unit?: string;
}

/** Bumped when the meter provider changes: instruments are made again from the new one on next use. */
let generation = 0;
const gauges: (() => void)[] = [];

/** Called once the process's meter provider is in place. */
export function resetInstruments(): void {
  generation++;
  for (const make of gauges) make();
}

function lazily<T>(make: () => T): () => T {
  let made: T | undefined;
  let at = -1;
  return () => {
    if (at !== generation || made === undefined) {
      made = make();
      at = generation;
    }
    return made;
  };
}

export function defineCounter(name: string, opts: InstrumentOptions): { add(n: number, attributes: Attributes): void } {
  const current = lazily<Counter>(() => metrics.getMeter('memshift').createCounter(name, opts));
  return { add: (n, attributes) => current().add(n, attributes) };
}

export function defineHistogram(name: string, opts: InstrumentOptions): { record(value: number, attributes: Attributes): void } {
  const current = lazily<Histogram>(() => metrics.getMeter('memshift').createHistogram(name, opts));
  return { record: (value, attributes) => current().record(value, attributes) };
}

/** One reading of a gauge: a value under its attributes. */
export interface Reading {
  value: number;
  attributes: Attributes;
}

type GaugeSource = () => Reading[] | Promise<Reading[]>;

/**
 * A gauge read from registered sources (one per running proxy). Several proxies in one process add up ('sum':
 * e.g. the outbox depth of each), count once if any says so ('max': a guard tripped on one of them), or agree,
 * and the first source that answers is read ('first').
 */
export function defineGauge(name: string, opts: InstrumentOptions & { combine: 'sum' | 'max' | 'first' }): { addSource(source: GaugeSource): () => void } {
  const sources = new Set<GaugeSource>();
  gauges.push(() =>
    metrics
      .getMeter('memshift')
      .createObservableGauge(name, opts)
      .addCallback(async (r) => {
        const totals = new Map<string, Reading>();
        for (const source of sources) {
          let readings: Reading[];
          try {
            readings = await source();
          } catch (err) {
            log.debug({ err, gauge: name }, 'gauge source unavailable');
            continue;
          }
          for (const { value, attributes } of readings) {
            const key = JSON.stringify(attributes);
            const seen = totals.get(key);
            if (!seen) totals.set(key, { value, attributes });
            else if (opts.combine === 'sum') seen.value += value;
            else if (opts.combine === 'max') seen.value = Math.max(seen.value, value);
          }
          if (opts.combine === 'first' && readings.length) break;
        }
        for (const { value, attributes } of totals.values()) r.observe(value, attributes);
      }),
  );
  return {
    addSource(source) {
      sources.add(source);
      return () => sources.delete(source);
    },
  };
}
