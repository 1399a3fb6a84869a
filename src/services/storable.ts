/**
 * What the orchestrator's PostgreSQL can hold (PROTOCOLS.md 2): no U+0000 and no lone surrogate in any text (jsonb
 * and text refuse them), no NaN or Infinity (not JSON to jsonb), tags and user ids within VARCHAR(64). A request
 * that breaks this would fail in the orchestrator's database on every attempt, so it is refused here as
 * untranslatable, with its reason.
 */
import { Untranslatable } from './types.js';
import { numberOf } from '../util/pyjson.js';
import { UNSTORABLE_CHAR } from '../util/storable-key.js';

const VARCHAR = 64;

/** The first value PostgreSQL cannot store, with its path (built only on the way back from it). */
function unstorable(value: unknown): { reason: 'unstorable_text' | 'unstorable_number'; path: string } | undefined {
  const n = numberOf(value);
  if (n !== undefined) return Number.isFinite(n) ? undefined : { reason: 'unstorable_number', path: '' };
  if (typeof value === 'string') return UNSTORABLE_CHAR.test(value) ? { reason: 'unstorable_text', path: '' } : undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = unstorable(value[i]);
      if (found) return { ...found, path: `[${i}]${found.path}` };
    }
  } else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      if (UNSTORABLE_CHAR.test(k)) return { reason: 'unstorable_text', path: ` (a key)` };
      const found = unstorable(v);
      if (found) return { ...found, path: `.${k}${found.path}` };
    }
  }
  return undefined;
}

function checkLength(value: unknown, where: string): void {
  if (typeof value === 'string' && [...value].length > VARCHAR)
    throw new Untranslatable('too_long', `${where} is longer than the orchestrator's ${VARCHAR} characters`);
}

/** Throws Untranslatable when the orchestrator could not store this request's payload. */
export function assertStorable(action: string, payload: Record<string, unknown>): void {
  const found = unstorable(payload);
  if (found?.reason === 'unstorable_text')
    throw new Untranslatable(found.reason, `payload${found.path} holds U+0000 or a lone surrogate, which PostgreSQL cannot store`);
  if (found) throw new Untranslatable(found.reason, `payload${found.path} is not a finite number, which jsonb cannot store`);
  if (Array.isArray(payload.tags)) payload.tags.forEach((t, i) => checkLength(t, `tag ${i}`));
  if (action === 'create_session') checkLength(payload.user_id, 'user_id');
}
