/**
 * The shadow comparison's cost per reply pair (parsing both frames, numbers' spelling kept, then the rules' walk)
 * against the floor of any comparison of the same bytes measured in the same run: JSON.parse both and
 * util.isDeepStrictEqual. The pair is two equal get_context replies, so both walk every field.
 */
import { isDeepStrictEqual } from 'node:util';
import { comparePayloads } from '../../comparison/compare.js';
import { routeRules } from '../../plan/wiring.js';
import { pyDumps } from '../../util/pyjson.js';

export interface CompareBenchOptions {
  /** Interactions in a reply, one measurement each. */
  sizes: number[];
  /** Time spent per size and side of the pair (memshift, floor), in alternated rounds. */
  durationMs: number;
}

const ROUNDS = 4;

/** A SessionMemoryAgent get_context reply of `n` interactions, as json.dumps spells it. */
function reply(n: number): Buffer {
  const context = Array.from({ length: n }, (_, i) => ({
    role: i % 2 ? 'assistant' : 'user',
    content: `message ${i} `.repeat(20).trim(),
    timestamp: new Date(Date.UTC(2026, 10, 29, 0, 0, i % 60, i % 1000)).toISOString().replace('Z', '123'),
  }));
  return Buffer.from(pyDumps({ status: 'success', context, request_id: 'req-1' }));
}

/** Mean ms per call of `f` over `ms` of calls. */
function perCall(f: () => void, ms: number): number {
  let calls = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    for (let i = 0; i < 10; i++) f();
    calls += 10;
  }
  return (performance.now() - t0) / calls;
}

export function benchCompare(o: CompareBenchOptions): string {
  const rules = routeRules(undefined, 'session-memory', 'get_context', 2);
  const lines = [`memshift bench: shadow comparison of two equal get_context replies (session-memory's rules), per pair, one core`];
  for (const n of o.sizes) {
    const [a, b] = [reply(n), reply(n)];
    if (!comparePayloads(a, b, rules).equal || !isDeepStrictEqual(JSON.parse(a.toString()), JSON.parse(b.toString())))
      throw new Error('the pair must be equal');
    const times = { memshift: 0, floor: 0 };
    for (let r = 0; r < ROUNDS; r++) {
      times.memshift += perCall(() => comparePayloads(a, b, rules), o.durationMs / ROUNDS) / ROUNDS;
      times.floor += perCall(() => isDeepStrictEqual(JSON.parse(a.toString()), JSON.parse(b.toString())), o.durationMs / ROUNDS) / ROUNDS;
    }
    lines.push(
      `  ${n.toLocaleString('en')} interactions (${Math.round(a.length / 1024).toLocaleString('en')} KB a reply): memshift ${times.memshift.toFixed(3)} ms, ` +
        `JSON.parse + isDeepStrictEqual ${times.floor.toFixed(3)} ms (${(times.memshift / times.floor).toFixed(2)}x)`,
    );
  }
  return `${lines.join('\n')}\n`;
}
