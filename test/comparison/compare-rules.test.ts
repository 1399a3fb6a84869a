/** Comparison rules: path syntax, the schema, defaults per route under config overrides, and the defaults on real reply pairs. */
import { describe, expect, it } from 'vitest';
import { compare } from '../../src/comparison/compare.js';
import { comparisonRulesSchema, parseRulePath } from '../../src/comparison/rules.js';
import { parseConfig } from '../../src/config.js';
import { routeRules as rulesFor } from '../../src/plan/wiring.js';
import { serviceOf } from '../../src/services/registry.js';

const defaultsOf = (service: string, action: string) => comparisonRulesSchema.parse({ ...serviceOf(service).actions[action]!.compare });

describe('rule paths and schema', () => {
  it('parses keys, wildcards and element steps', () => {
    expect(parseRulePath('')).toEqual([]);
    expect(parseRulePath('context[].timestamp')).toEqual(['context', '[]', 'timestamp']);
    expect(parseRulePath('[]')).toEqual(['[]']);
    expect(parseRulePath('a.*.b[][]')).toEqual(['a', '*', 'b', '[]', '[]']);
    for (const bad of ['a..b', '.a', 'a.', 'a[0]', 'a[', 'a]b']) expect(() => parseRulePath(bad), bad).toThrow(/bad comparison path/);
  });

  it('fills defaults and rejects bad rules with the offending key', () => {
    expect(comparisonRulesSchema.parse({})).toEqual({ ignore: [], sets: {}, tolerance: {}, trimStrings: false, timeToleranceS: 0, maxDiffs: 50 });
    const bad = comparisonRulesSchema.safeParse({ ignore: ['a[0]'], tolerance: { x: -1 }, sets: { l: 'a[].b' }, extra: 1 });
    expect(bad.success).toBe(false);
    const where = bad.error!.issues.map((i) => i.path.join('.'));
    expect(where).toEqual(expect.arrayContaining(['ignore.0', 'tolerance.x', 'sets.l']));
    expect(bad.error!.issues.some((i) => i.code === 'unrecognized_keys')).toBe(true);
  });

  it('override schema knows the services and leaves unset fields unset', () => {
    const parsed = parseConfig({ comparison: { 'jarvis-memory': { get_memories: { trimStrings: true } } } }).comparison!;
    expect(parsed['jarvis-memory']!.get_memories).toEqual({ trimStrings: true });
    expect(() => parseConfig({ comparison: { 'nope-memory': {} } })).toThrow(/comparison/);
  });
});

describe('rulesFor', () => {
  it('returns the defaults when config says nothing, empty rules for unknown routes', () => {
    expect(rulesFor(undefined, 'session-memory', 'get_context')).toEqual(defaultsOf('session-memory', 'get_context'));
    expect(rulesFor({}, 'session-memory', 'add_interaction').ignore).toEqual([]);
  });

  it('no service lists fields by hand: noise is learned (A/A baseline), times get the one configured tolerance', () => {
    for (const [service, action] of [
      ['session-memory', 'get_context'],
      ['contextual-memory', 'get_context'],
      ['jarvis-memory', 'get_memories'],
    ] as const) {
      expect(rulesFor(undefined, service, action, 1)).toEqual({ ignore: [], sets: {}, tolerance: {}, trimStrings: false, timeToleranceS: 1, maxDiffs: 50 });
    }
    expect(parseConfig({}).shadow.timeToleranceS).toBe(1);
    expect(rulesFor({ 'jarvis-memory': { get_memories: { timeToleranceS: 5 } } }, 'jarvis-memory', 'get_memories', 1).timeToleranceS).toBe(5);
  });

  it('merges an override onto the defaults', () => {
    const r = rulesFor(
      { 'session-memory': { get_context: { ignore: ['status', 'request_id'], tolerance: { x: 1 }, maxDiffs: 5 } } },
      'session-memory',
      'get_context',
    );
    expect(r).toEqual({ ignore: ['status', 'request_id'], sets: {}, tolerance: { x: 1 }, trimStrings: false, timeToleranceS: 0, maxDiffs: 5 });
    expect(defaultsOf('session-memory', 'get_context').maxDiffs).toBe(50);
  });

  it('inherit: false replaces the defaults', () => {
    const r = rulesFor({ 'contextual-memory': { get_context: { inherit: false, ignore: ['last_updated'] } } }, 'contextual-memory', 'get_context');
    expect(r.ignore).toEqual(['last_updated']);
  });
});

// Replies shaped exactly as PROTOCOLS.md section 1 describes them.
const sessionReply = (stamp: string, requestId: string, contents: string[]) => ({
  status: 'success',
  context: contents.map((content, i) => ({ role: i % 2 ? 'assistant' : 'user', content, timestamp: `2024-05-01T10:0${i}:${stamp}` })),
  request_id: requestId,
});

const summary = (lastUpdated: number, decisionStamp: number, queries = 2) => ({
  code_context:
    'Code Summary:\nTotal snippets: 1\nTotal lines: 3\n\nWeb Functionality:\n- HTTP endpoints and web routes present\n\nDETECTED DOMAINS: web functionality\n',
  conversation_summary: `Conversation Summary:\nTotal queries: ${queries}\nTotal responses: 1\n\nRecent Queries:\n- how do I add a route?...\n- and tests?...\n`,
  errors_encountered: [],
  key_decisions: [
    { decision: 'use fastify', timestamp: decisionStamp },
    { decision: 'keep zmq', timestamp: decisionStamp + 1.25 },
  ],
  last_updated: lastUpdated,
});

const jarvisReply = (t0: number, memories: unknown[]) => ({
  status: 'ok',
  memories: memories.map((memory, i) => ({ timestamp: t0 + i * 0.3, memory })),
});

describe('default rules on real reply pairs', () => {
  // The configured default time tolerance (shadow.timeToleranceS = 1).
  const session = rulesFor(undefined, 'session-memory', 'get_context', 1);
  const contextual = rulesFor(undefined, 'contextual-memory', 'get_context', 1);
  const jarvis = rulesFor(undefined, 'jarvis-memory', 'get_memories', 1);

  it('session-memory get_context: same content, timestamps within a second, is equal; another request id is a difference', () => {
    const contents = ['hello', 'hi, how can I help?', 'remind me at 5'];
    const c = compare(sessionReply('00.123456', 'r-1', contents), sessionReply('00.954321', 'r-1', contents), session);
    expect(c).toEqual({ equal: true, diffs: [], truncated: false, ignored: 0 });
    // Both sides echo the agent's request id; one that differs is a real difference (or noise the baseline learns).
    expect(compare(sessionReply('00.1', 'r-1', contents), sessionReply('00.1', 'r-2', contents), session).diffs.map((d) => d.path)).toEqual(['request_id']);
  });

  it('session-memory get_context: a timestamp more than a second off is a difference', () => {
    const c = compare(sessionReply('00.1', 'r-1', ['hello']), sessionReply('07.6', 'r-1', ['hello']), session);
    expect(c.diffs.map((d) => d.path)).toEqual(['context[0].timestamp']);
  });

  it('session-memory get_context: one changed content is exactly that diff', () => {
    const c = compare(sessionReply('00.1', 'r-1', ['hello', 'hi', 'remind me at 5']), sessionReply('00.9', 'r-1', ['hello', 'hi', 'remind me at 6']), session);
    expect(c.diffs).toEqual([{ path: 'context[2].content', field: 'context[].content', kind: 'content', legacy: 'remind me at 5', new: 'remind me at 6' }]);
  });

  it('session-memory get_context: a status or role change is still seen', () => {
    const legacy = sessionReply('00.1', 'r-1', ['a', 'b']);
    const newer = { ...sessionReply('00.2', 'r-1', ['a', 'b']), status: 'error' };
    newer.context[0]!.role = 'system';
    expect(compare(legacy, newer, session).diffs.map((d) => d.path)).toEqual(['status', 'context[0].role']);
  });

  it('contextual get_context: last_updated and decision stamps within a second -> equal; further apart, a difference', () => {
    expect(compare(summary(1714557600.123, 1714550000.5), summary(1714557600.987, 1714550001.25), contextual).equal).toBe(true);
    expect(compare(summary(1714557600.123, 1714550000.5), summary(1714557601.987, 1714550000.5), contextual).diffs.map((d) => d.path)).toEqual([
      'last_updated',
    ]);
  });

  it('contextual get_context: a changed summary, a lost decision, null vs summary', () => {
    const legacy = summary(1714557600.5, 1714550000.25);
    const newer = summary(1714557601.25, 1714550000.75, 3);
    newer.key_decisions.pop();
    const c = compare(legacy, newer, contextual);
    expect(c.diffs.map((d) => d.path)).toEqual(['conversation_summary', 'key_decisions[1]']);
    expect(c.diffs[1]!.new).toBeUndefined();
    expect(compare(null, summary(1714557600.5, 1714550000.25), contextual).diffs).toHaveLength(1);
    expect(compare(true, true, contextual).equal).toBe(true);
  });

  it('jarvis get_memories: same memories, other stamps -> equal; a changed memory is one nested diff', () => {
    const mems = [{ type: 'reminder', text: 'call mom', due: '17:00' }, 'likes jazz', 42];
    expect(compare(jarvisReply(1714557600.5, mems), jarvisReply(1714557601.25, mems), jarvis).equal).toBe(true);
    expect(compare(jarvisReply(1714557600.5, mems), jarvisReply(1714557609.25, mems), jarvis).diffs).toHaveLength(3);
    const changed = structuredClone(mems);
    (changed[0] as { text: string }).text = 'call dad';
    expect(compare(jarvisReply(1714557600.5, mems), jarvisReply(1714557601.25, changed), jarvis).diffs).toEqual([
      { path: 'memories[0].memory.text', field: 'memories[].memory.text', kind: 'content', legacy: 'call mom', new: 'call dad' },
    ]);
  });

  it('an integer the size of an epoch time (an id, a count) gets no time tolerance', () => {
    const c = compare(jarvisReply(1714557600.5, [1714557600]), jarvisReply(1714557600.5, [1714557601]), jarvis);
    expect(c.diffs.map((d) => [d.path, d.kind])).toEqual([['memories[0].memory', 'content']]);
    const far = compare(jarvisReply(1714557600.5, ['a']), jarvisReply(1714557602.5, ['a']), jarvis);
    expect(far.diffs.map((d) => [d.path, d.kind])).toEqual([['memories[0].timestamp', 'timestamp']]);
  });

  it('jarvis get_memories: a missing memory and the error shape are seen', () => {
    const mems = ['a', 'b'];
    const c = compare(jarvisReply(1, mems), jarvisReply(1, ['a']), jarvis);
    expect(c.diffs).toEqual([{ path: 'memories[1]', field: 'memories[]', kind: 'missing_on_new', legacy: { timestamp: 1.3, memory: 'b' }, new: undefined }]);
    expect(compare(jarvisReply(1, mems), { status: 'error', reason: 'x' }, jarvis).diffs.map((d) => d.path)).toEqual(['status', 'memories', 'reason']);
  });
});
