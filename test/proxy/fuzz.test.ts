/**
 * Odd but legal input, as Python's json takes it (NaN, 1e400, a byte-order mark, UTF-16, duplicate keys, ids of
 * every type, NUL and lone surrogates, deep nesting), sent to a legacy simulator directly and to an identical one
 * behind memshift with dual-write and shadow-read on: the agent gets the same bytes (times and generated ids
 * masked), memshift never answers with an error of its own, and ids that differ only in a NUL or a lone surrogate
 * stay apart on the orchestrator. MEMSHIFT_FUZZ_N sets the frames per service (the acceptance ran 10,000).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { SHADOW_ALL, startMigrationStack, type MigrationStack } from '../support/migration.js';
import { startSims } from '../support/stack.js';
import { ReqClient } from '../support/zmq-client.js';

const N = Number(process.env.MEMSHIFT_FUZZ_N ?? 1000);
const CLIENTS = 4;

let direct: SimHandle;
let stack: MigrationStack;

beforeAll(async () => {
  [direct, stack] = await Promise.all([startSims(), startMigrationStack(SHADOW_ALL)]);
});

afterAll(async () => {
  await stack?.close();
  await direct?.close();
});

/** A deterministic generator (mulberry32), so a failure can be replayed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** JSON text written here (not by memshift's writer): bare NaN / Infinity / 1e400 tokens and duplicate keys. */
type Raw = { raw: string };
const raw = (text: string): Raw => ({ raw: text });
function text(v: unknown): string {
  if (typeof v === 'object' && v !== null && 'raw' in v) return (v as Raw).raw;
  if (Array.isArray(v)) return `[${v.map(text).join(', ')}]`;
  if (typeof v === 'object' && v !== null)
    return `{${Object.entries(v)
      .map(([k, x]) => `${JSON.stringify(k)}: ${text(x)}`)
      .join(', ')}}`;
  return JSON.stringify(v);
}

const ODD_NUMBERS = ['NaN', 'Infinity', '-Infinity', '1e400', '3.0', '1e-05', '25000000000.0', '1E5', '-0.0', '12345678901234567890'].map(raw);

function frameFor(service: string, r: () => number, client: number, i: number): Buffer {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  // Client 0 alone uses the ids that collide when mishandled, so each key's requests stay in one order.
  const special = client === 0 ? ['u\u0000x', 'u\ud800', 'u\udc00', 'u\ufffd', 'u\\0x', 'default'] : [];
  const plainIds = [`c${client}-a`, `c${client}-b`, `c${client}-ü😀`, ...special];
  const oddIds = client === 0 ? [raw('1'), raw('1.0'), [1, 2], { a: 1 }, true, null, ...ODD_NUMBERS.slice(0, 4)] : [];
  const id = () => (oddIds.length && r() < 0.15 ? pick(oddIds) : pick(plainIds));
  const value = (depth = 0): unknown => {
    const x = r();
    if (x < 0.2) return pick(ODD_NUMBERS);
    if (x < 0.4) return pick(['hello', '', 'caf\u00e9', 'a\u0000b', '\ud800lone', 'ERROR: exception here', 'def f():\n  return 1']);
    if (x < 0.5 && depth < 40) return [value(depth + 1), value(depth + 1)];
    if (x < 0.6 && depth < 40) return { k: value(depth + 1), n: pick(ODD_NUMBERS) };
    return pick([1, 0, -1, true, false, null]);
  };
  const actions: Record<string, (() => Record<string, unknown>)[]> = {
    'session-memory': [
      () => ({ action: 'create_session', session_id: id(), user_id: id(), metadata: { n: value() } }),
      () => ({ action: 'add_interaction', session_id: id(), role: pick(['user', 'assistant', 3.0]), content: value(), metadata: { tags: [value()] } }),
      () => ({ action: 'get_context', session_id: id(), max_tokens: pick([raw('5'), raw('2000'), raw('7.5'), 'x', true, null]) }),
      () => ({ action: 'clear_session', session_id: id() }),
      () => ({ action: 'health_check' }),
    ],
    'contextual-memory': [
      () => ({ action: 'add_interaction', session_id: id(), type: pick(['code', 'user_query', 'error', 5]), content: value(), metadata: { x: value() } }),
      () => ({ action: 'record_decision', session_id: id(), decision: value() }),
      () => ({ action: 'get_context', session_id: id(), max_tokens: pick([raw('2000'), raw('10'), null]) }),
    ],
    'jarvis-memory': [
      () => ({ action: 'add_memory', user_id: id(), memory: value() }),
      () => ({ action: 'get_memories', user_id: id() }),
      // Without user_id the agent uses "default": client 0's alone.
      () =>
        r() < 0.1
          ? { action: 'clear_memories', user_id: id() }
          : client === 0
            ? { action: 'add_memory', memory: value() }
            : { action: 'add_memory', user_id: id(), memory: value() },
    ],
  };
  const request = pick(actions[service]!)();
  if (r() < 0.05) request.action = pick(['sing', '', 'constructor']);
  let body = text(request);
  // A duplicate key: Python keeps the last one.
  if (r() < 0.1) body = body.replace(/^\{/, `{"action": "dropped-by-python", `);
  const encoding = r();
  if (encoding < 0.05) return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(body)]);
  if (encoding < 0.08) return Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(body, 'utf16le')]);
  if (encoding < 0.1) return Buffer.from(body, 'utf16le');
  void i;
  return Buffer.from(body);
}

/** Times, epoch stamps, uuids and uptimes differ between two runs of the same service; nothing else may. */
const mask = (b: Buffer): string =>
  b
    .toString('utf8')
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?/g, 'TIME')
    .replace(/\b1\d{9}(\.\d+)?\b/g, 'EPOCH')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, 'UUID')
    .replace(/"uptime_seconds": [0-9.e-]+/g, '"uptime_seconds": X');

it(`answers ${N} odd frames per service exactly as the service does`, async () => {
  const differences: { service: string; frame: string; direct: string; proxied: string }[] = [];
  for (const service of ['session-memory', 'contextual-memory', 'jarvis-memory']) {
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, client) => {
        const r = rng(client * 7919 + service.length);
        const a = new ReqClient(direct.endpoints[service as 'jarvis-memory'], 10_000);
        const b = new ReqClient(stack.proxy.fronts[service]!, 10_000);
        try {
          for (let i = client; i < N; i += CLIENTS) {
            const frame = frameFor(service, r, client, i);
            const [d, p] = [mask(await a.raw(frame)), mask(await b.raw(frame))];
            if (d !== p && differences.length < 20) differences.push({ service, frame: frame.toString('utf8').slice(0, 200), direct: d, proxied: p });
          }
        } finally {
          a.close();
          b.close();
        }
      }),
    );
  }
  expect(differences).toEqual([]);

  await stack.proxy.runner.secondary.drain();
  // Nothing memshift could not carry was lost silently: any write left on the outbox says why.
  const { rows } = await stack.proxy.store.pool.query<{ last_error: string | null }>(`SELECT last_error FROM outbox WHERE status = 'dead'`);
  expect(rows.filter((x) => /internal|TypeError|undefined/.test(x.last_error ?? ''))).toEqual([]);

  // Users whose ids differ only in a NUL or a lone surrogate never share an orchestrator session: the ids
  // PostgreSQL can hold get their own, the others none (their writes are parked as untranslatable).
  const storable = ['u\ufffd', 'u\\0x', 'default'];
  const unstorable = ['u\u0000x', 'u\ud800', 'u\udc00'];
  const sessions = await Promise.all(storable.map((u) => stack.proxy.store.idMap.get('jarvis-memory', u)));
  expect(sessions.every((s) => s !== undefined)).toBe(true);
  expect(new Set(sessions).size).toBe(storable.length);
  for (const u of unstorable) expect(await stack.proxy.store.idMap.get('jarvis-memory', u), JSON.stringify(u)).toBeUndefined();
  expect(rows.filter((x) => /^untranslatable: /.test(x.last_error ?? '')).length).toBeGreaterThan(0);
}, 300_000);
