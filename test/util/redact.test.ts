/** Redaction: a report never shows memory contents unless asked, yet equal values stay recognisable within it. */
import { describe, expect, it } from 'vitest';
import { makeRedactor, redactDiff } from '../../src/util/redact.js';

const SECRET = 'remind me to call mom at six';

describe('makeRedactor', () => {
  it('replaces a string by its type, length and a hash, never its text', () => {
    const out = makeRedactor(true)(SECRET);
    expect(out).toMatch(/^‹string, 28 chars, #[0-9a-f]{8}›$/);
    expect(String(out)).not.toContain('mom');
  });

  it('describes objects, arrays and numbers without their content', () => {
    const redact = makeRedactor(true);
    const obj = String(redact({ type: 'reminder', text: SECRET }));
    expect(obj).toMatch(/^‹object, 2 keys, #[0-9a-f]{8}›$/);
    expect(obj).not.toContain('reminder');
    expect(redact([SECRET, 'x'])).toMatch(/^‹array, 2 items, #/);
    expect(redact(1712345678)).toMatch(/^‹number, #[0-9a-f]{8}›$/);
    expect(redact(undefined)).toBe('‹absent›');
    expect(redact(null)).toBeNull();
    expect(redact(true)).toBe(true);
  });

  it('hashes equal values alike within one report and differently across reports', () => {
    const a = makeRedactor(true);
    expect(a(SECRET)).toBe(a(SECRET));
    expect(a(SECRET)).not.toBe(a(`${SECRET} [diverged]`));
    expect(makeRedactor(true)(SECRET)).not.toBe(a(SECRET));
    // The type is part of what is hashed: "1" and 1 do not look equal.
    expect(String(a('1')).slice(-10)).not.toBe(String(a(1)).slice(-10));
  });

  it('shows values as they are when redaction is off', () => {
    const v = { text: SECRET };
    expect(makeRedactor(false)(v)).toBe(v);
  });
});

describe('redactDiff', () => {
  it('keeps the path and redacts both sides', () => {
    const d = redactDiff({ path: 'context[2].content', field: 'context[].content', legacy: SECRET, new: `${SECRET}!` }, makeRedactor(true));
    expect(d.path).toBe('context[2].content');
    expect(JSON.stringify(d)).not.toContain('mom');
    expect(d.legacy).not.toBe(d.new);
  });

  it('survives diffs of the wrong shape', () => {
    expect(redactDiff(null, makeRedactor(true))).toEqual({ path: '(unknown path)', legacy: '‹absent›', new: '‹absent›' });
    expect(redactDiff({ path: 7, legacy: 'x' }, makeRedactor(false))).toEqual({ path: '(unknown path)', legacy: 'x', new: undefined });
  });
});
