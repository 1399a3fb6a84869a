/** The request path's id map: a silent store fails a look-up as not sent, a write or delete as an unknown outcome. */
import { expect, it } from 'vitest';
import { LegError, isUnknownOutcome } from '../../src/legs/types.js';
import { boundedIds } from '../../src/services/bounded-ids.js';
import type { IdMap } from '../../src/services/types.js';

const never = new Promise<never>(() => undefined);
const silent: IdMap = { get: () => never, set: () => never, delete: () => never };

it('fails a look-up the store does not answer as not sent, naming the store', async () => {
  const err = await boundedIds(silent, 50)
    .get('session-memory', 's')
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(LegError);
  expect(err).toMatchObject({ failure: 'unavailable', message: 'state store gave no answer within 50 ms (id map look-up)' });
  expect(isUnknownOutcome(err)).toBe(false);
});

it('fails a write or delete the store does not answer as an unknown outcome (it may still commit)', async () => {
  const ids = boundedIds(silent, 50);
  for (const err of [
    await ids.set('session-memory', 's', 'session-1').catch((e: unknown) => e),
    await ids.delete('session-memory', 's').catch((e: unknown) => e),
  ]) {
    expect(err).toMatchObject({ failure: 'timeout' });
    expect(isUnknownOutcome(err)).toBe(true);
  }
});

it('passes answers through', async () => {
  const kept = new Map<string, string>();
  const answering: IdMap = {
    get: (_, key) => Promise.resolve(kept.get(key)),
    set: (_, key, id) => Promise.resolve(kept.get(key) ?? (kept.set(key, id), id)),
    delete: (_, key) => Promise.resolve(void kept.delete(key)),
  };
  const ids = boundedIds(answering, 50);
  expect(await ids.get('jarvis-memory', 'u')).toBeUndefined();
  expect(await ids.set('jarvis-memory', 'u', 'session-1')).toBe('session-1');
  expect(await ids.set('jarvis-memory', 'u', 'session-2')).toBe('session-1');
  expect(await ids.get('jarvis-memory', 'u')).toBe('session-1');
});
