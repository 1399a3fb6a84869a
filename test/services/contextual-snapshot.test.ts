/**
 * The contextual snapshot's get_context rules (PROTOCOLS.md 1.2) against the same rules written in Python and run
 * by Debian's python3: budgets of every kind applied in turn to one stored snapshot, cuts compounding.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { read, recompute, withDecision, type Snapshot } from '../../src/services/contextual-memory/snapshot.js';
import { pyDumps, pyLoads } from '../../src/util/pyjson.js';

/** The agent's get_context as test/golden/legacy.py writes it from PROTOCOLS.md 1.2: each budget (JSON) in turn, each reply. */
const AGENT = `
import json, sys
sys.dont_write_bytecode = True
sys.path.insert(0, ${JSON.stringify(fileURLToPath(new URL('../golden/', import.meta.url)))})
from legacy import cut
summary, budgets = json.loads(sys.stdin.read())
print(json.dumps([json.dumps(cut(summary, None if b == "absent" else b)) for b in budgets]))
`;

it('cuts the stored snapshot as the agent does, for every kind of budget, and the cuts compound', () => {
  const snapshot = {
    last_updated: 1732280000.25,
    code_context: 'Code Summary:\nTotal snippets: 3\n' + 'x'.repeat(300) + ' caf\u00e9 \u{1f600}',
    conversation_summary: 'Conversation Summary:\nTotal queries: 2\n' + 'q'.repeat(120),
    errors_encountered: [],
    key_decisions: [{ timestamp: 1732270000.5, decision: 'keep zmq' }],
  };
  const budgets: unknown[] = [4000, 'absent', 120, 7.5, 1000, 60, true, -3, 'ten', null, 2, 0, 3.0];
  const python = JSON.parse(execFileSync('python3', ['-c', AGENT], { input: JSON.stringify([snapshot, budgets]), encoding: 'utf8' })) as string[];
  let stored: Snapshot = pyLoads(JSON.stringify(snapshot)) as Snapshot;
  const ours = budgets.map((b) => {
    // The budget as the agent's request would carry it (3.0 stays a float).
    const budget = b === 'absent' ? undefined : b === 3.0 ? pyLoads('3.0') : pyLoads(JSON.stringify(b));
    const { reply, changed } = read(stored, budget);
    if (changed) stored = changed;
    return pyDumps(reply);
  });
  expect(ours).toEqual(python);
});

it('recomputes over the newest interactions keeping decisions, and starts a snapshot with a first decision', () => {
  const first = withDecision(undefined, 'use fastify', pyLoads('1.5'));
  expect(pyDumps(first)).toBe('{"key_decisions": [{"timestamp": 1.5, "decision": "use fastify"}]}');
  const newest = [
    { type: 'error', content: 'ERROR: boom' },
    { type: 'code', content: 'def handler(): return http_get()' },
    { type: 'user_query', content: 'how do I add a route?' },
    { type: 'error', content: 'just a warning' },
  ];
  const snap = recompute(newest, first, pyLoads('2.25'));
  expect(Object.keys(snap)).toEqual(['last_updated', 'code_context', 'conversation_summary', 'errors_encountered', 'key_decisions']);
  expect(snap.errors_encountered).toEqual(['ERROR: boom']);
  expect(pyDumps(snap.key_decisions)).toBe('[{"timestamp": 1.5, "decision": "use fastify"}]');
});
