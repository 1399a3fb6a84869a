/**
 * Golden replies: every action of the three services, written by test/golden/legacy.py with Python's own json,
 * checked byte for byte against the simulators and against replies rebuilt from the orchestrator (new-primary).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../support/workload.js';
import { startSims } from '../support/stack.js';
import { startMigrationStack, type MigrationStack } from '../support/migration.js';
import { flagName } from '../../src/flags/names.js';
import type { Edits } from '../flags/helpers.js';
import type { SimHandle } from '../../src/tools/sim/index.js';

type Service = 'session-memory' | 'contextual-memory' | 'jarvis-memory';
type Mode = 'faithful' | 'as-deployed';

const PROGRAM = fileURLToPath(new URL('./legacy.py', import.meta.url));

/** The replies Python's services give to `requests` (raw JSON text each), one text per request. */
const golden = (service: Service, mode: Mode, requests: string[]): string[] =>
  execFileSync('python3', [PROGRAM], { input: JSON.stringify({ service, mode, requests }), encoding: 'utf8' })
    .trimEnd()
    .split('\n');

/**
 * Times and fresh uuids masked, keeping what kind of value each was (a float time must stay a float):
 * two clocks never agree, everything else must to the byte.
 */
const mask = (reply: string): string =>
  reply
    .replace(
      /"(timestamp|last_updated)": ("[^"]*"|[-+0-9.eE]+)/g,
      (_, key: string, v: string) => `"${key}": <${v.startsWith('"') ? 'iso' : /[.e]/.test(v) ? 'float' : 'int'}>`,
    )
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}/g, '<uuid4>');

const j = (request: Record<string, unknown>): string => JSON.stringify(request);

const SESSION: string[] = [
  j({ action: 'health_check' }),
  '{"action": "create_session", "session_id": "golden-1", "user_id": "u1", "metadata": {"n": 3.0, "e": 1e-05}, "request_id": "r1"}',
  j({ action: 'create_session', request_id: 'r2' }),
  j({ action: 'get_context', session_id: 'golden-1', request_id: 'r3' }),
  j({ action: 'add_interaction', session_id: 'golden-1', role: 'user', content: 'hello there, how are you today?', request_id: 'r4' }),
  j({ action: 'add_interaction', session_id: 'golden-1', role: 'assistant', content: '\u{1f600}'.repeat(10) + ' caf\u00e9', request_id: 'r5' }),
  '{"action": "add_interaction", "session_id": "golden-1", "role": "user", "content": "tags and numbers", "metadata": {"tags": ["t1"], "n": 2.50}, "request_id": "r6"}',
  j({ action: 'add_interaction', session_id: 'golden-1', role: 'assistant', content: 'x'.repeat(400), request_id: 'r7' }),
  j({ action: 'add_interaction', session_id: 'golden-1', role: 'user', content: 'newest', request_id: 'r8' }),
  j({ action: 'get_context', session_id: 'golden-1', request_id: 'r9' }),
  j({ action: 'get_context', session_id: 'golden-1', max_tokens: 10, request_id: 'r10' }),
  j({ action: 'get_context', session_id: 'golden-1', max_tokens: 120 }),
  j({ action: 'get_context', session_id: 'golden-1', max_tokens: 0, request_id: 'r11' }),
  j({ action: 'get_context', session_id: 'nobody', request_id: 'r12' }),
  j({ action: 'get_context', request_id: 'r13' }),
  j({ action: 'add_interaction', session_id: 'golden-1', role: 'user', request_id: 'r14' }),
  j({ action: 'add_interaction', session_id: 'nobody', role: 'user', content: 'lost', request_id: 'r15' }),
  j({ action: 'clear_session', session_id: 'golden-1', request_id: 'r16' }),
  j({ action: 'get_context', session_id: 'golden-1', request_id: 'r17' }),
  j({ action: 'add_interaction', session_id: 'golden-1', role: 'user', content: 'after the clear', request_id: 'r18' }),
  j({ action: 'get_context', session_id: 'golden-1', request_id: 'r19' }),
  j({ action: 'delete_session', session_id: 'golden-1', request_id: 'r20' }),
  j({ action: 'get_context', session_id: 'golden-1', request_id: 'r21' }),
  j({ action: 'frobnicate', request_id: 'r22' }),
];

const TYPES = ['code', 'user_query', 'system_response', 'error'] as const;
const CODE = ['SELECT * FROM users -- database', 'app.route("/x") # http handler', 'threading.Thread(target=run)', 'x = 1\ny = 2'];
const interaction = (sid: string, i: number): string => {
  const type = TYPES[i % 4]!;
  const content =
    type === 'code'
      ? `${CODE[(i >> 2) % 4]}\n# snippet ${i}`
      : type === 'user_query'
        ? `question ${i}: ${'why '.repeat(i % 40)}\u00e9\u{1f600}`
        : type === 'error'
          ? i % 8 === 3
            ? `Error: failure ${i}`
            : `warning ${i}`
          : `answer ${i}`;
  const metadata = i % 3 === 0 ? ', "metadata": {"file": "a.py", "n": 3.0}' : i % 3 === 1 ? ', "metadata": {}' : '';
  return `{"action": "add_interaction", "session_id": ${JSON.stringify(sid)}, "type": "${type}", "content": ${JSON.stringify(content)}${metadata}}`;
};
const context = (sid: string, budget?: string): string =>
  `{"action": "get_context", "session_id": ${JSON.stringify(sid)}${budget === undefined ? '' : `, "max_tokens": ${budget}`}}`;

const CONTEXTUAL: string[] = [
  context('u1_proj'),
  j({ action: 'record_decision', session_id: 'u1_proj', decision: 'use zeromq' }),
  context('u1_proj'),
  ...Array.from({ length: 50 }, (_, i) => interaction('u1_proj', i)),
  context('u1_proj'),
  interaction('u1_proj', 50),
  context('u1_proj'),
  context('u1_proj', '10'),
  context('u1_proj', '2000'),
  context('u1_proj', '7'),
  context('u1_proj', 'true'),
  context('u1_proj', 'null'),
  j({ action: 'record_decision', session_id: 'u1_proj', decision: 'keep the outbox' }),
  interaction('u1_proj', 51),
  interaction('u1_proj', 52),
  context('u1_proj', '3.5'),
  context('u1_proj', '"100"'),
  context('u1_proj', '-3'),
  context('u1_proj', '1'),
  context('u1_proj', '100'),
  ...Array.from({ length: 3 }, (_, i) => interaction('u2_2026-11-22', i)),
  context('u2_2026-11-22'),
  j({ action: 'forget', session_id: 'u1_proj' }),
];

const JARVIS: string[] = [
  j({ action: 'get_memories', user_id: 'u1' }),
  '{"action": "add_memory", "user_id": "u1", "memory": {"n": 3.0, "small": 1e-05, "big": 25000000000.0, "odd": 1.10, "e": 1E5, "i": 123456789012345678901234567890, "z": -0.0}}',
  j({ action: 'add_memory', user_id: 'u1', memory: { type: 'reminder', text: 'caf\u00e9 \u{1f600} at nine', at: '2026-11-23T09:00' } }),
  j({ action: 'add_memory', user_id: 'u1', memory: 'a bare string' }),
  '{"action": "add_memory", "user_id": "u1", "memory": [1, 2.5, [true, null], {"k": "v"}]}',
  j({ action: 'add_memory', memory: { who: 'default user' } }),
  j({ action: 'get_memories', user_id: 'u1' }),
  j({ action: 'get_memories' }),
  j({ action: 'clear_memories', user_id: 'u1' }),
  j({ action: 'get_memories', user_id: 'u1' }),
  j({ action: 'add_memory', user_id: 'u1', memory: { after: 'clear' } }),
  j({ action: 'get_memories', user_id: 'u1' }),
  j({ action: 'remember' }),
];

const SCRIPTS: Record<Service, string[]> = { 'session-memory': SESSION, 'contextual-memory': CONTEXTUAL, 'jarvis-memory': JARVIS };
const CASES: [Service, Mode][] = [
  ['session-memory', 'faithful'],
  ['contextual-memory', 'faithful'],
  ['contextual-memory', 'as-deployed'],
  ['jarvis-memory', 'faithful'],
];

/** Each reply next to its request, so a failure names the request it answers. */
const paired = (requests: string[], answers: string[]) => requests.map((r, i) => `${r}\n  -> ${mask(answers[i] ?? '(none)')}`);

describe.each(CASES)('%s (%s)', (service, mode) => {
  const requests = SCRIPTS[service];
  const expected = golden(service, mode, requests);
  const opened: { close(): Promise<void> }[] = [];
  afterAll(async () => {
    for (const o of opened) await o.close();
  });

  it('Python wrote one reply per request', () => {
    expect(expected).toHaveLength(requests.length);
  });

  it('the simulator answers the same bytes', async () => {
    const sims: SimHandle = await startSims({ contextualMode: mode });
    opened.push(sims);
    expect(paired(requests, await run(sims.endpoints[service], requests))).toEqual(paired(requests, expected));
  });

  it('replies rebuilt from the orchestrator (new-primary) are the same bytes', async () => {
    const edits: Edits = { [flagName(service, 'dual-write')]: { enabled: true }, [flagName(service, 'new-primary')]: { enabled: true } };
    const stack: MigrationStack = await startMigrationStack(edits, { services: { [service]: { replies: mode } } }, { contextualMode: mode });
    opened.push(stack);
    // health_check is the legacy service's own (always passed through); everything else comes from the translator.
    expect(paired(requests, await run(stack.proxy.fronts[service]!, requests))).toEqual(paired(requests, expected));
  }, 60_000);
});
