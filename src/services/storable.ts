/**
 * What the orchestrator's PostgreSQL can hold (PROTOCOLS.md 2): no U+0000 and no lone surrogate in any text
 * (jsonb and text refuse them), no NaN or Infinity (not JSON to jsonb), tags and user ids within VARCHAR(64). A request that breaks this would fail in
 * the orchestrator's database on every attempt, so it is refused here as untranslatable, with its reason.
 */
import { Untranslatable } from './types.js';
import { numberOf } from '../util/pyjson.js';

const VARCHAR = 64;
const UNSTORABLE_TEXT = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function checkText(value: unknown, where: string): void {
  const n = numberOf(value);
  if (n !== undefined) {
    if (!Number.isFinite(n)) throw new Untranslatable('unstorable_number', `${where} is ${n}, which jsonb cannot store`);
  } else if (typeof value === 'string') {
    if (UNSTORABLE_TEXT.test(value)) throw new Untranslatable('unstorable_text', `${where} holds U+0000 or a lone surrogate, which PostgreSQL cannot store`);
  } else if (Array.isArray(value)) value.forEach((v, i) => checkText(v, `${where}[${i}]`));
  else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      checkText(k, `a key in ${where}`);
      checkText(v, `${where}.${k}`);
    }
  }
}

function checkLength(value: unknown, where: string): void {
  if (typeof value === 'string' && [...value].length > VARCHAR)
    throw new Untranslatable('too_long', `${where} is longer than the orchestrator's ${VARCHAR} characters`);
}

/** Throws Untranslatable when the orchestrator could not store this request's payload. */
export function assertStorable(action: string, payload: Record<string, unknown>): void {
  checkText(payload, 'payload');
  if (Array.isArray(payload.tags)) payload.tags.forEach((t, i) => checkLength(t, `tag ${i}`));
  if (action === 'create_session') checkLength(payload.user_id, 'user_id');
}
