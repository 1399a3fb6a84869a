/**
 * The id map as the request path uses it: a state store that does not answer within the wait fails the
 * translation instead of holding it, so no orchestrator call goes out after the request's deadline on its account.
 */
import { LegError } from '../legs/types.js';
import { withDeadline } from '../util/deadline.js';
import type { IdMap } from './types.js';

const STORE = 'state store';

export function boundedIds(ids: IdMap, waitMs: number): IdMap {
  const late = (what: string) => `state store gave no answer within ${waitMs} ms (id map ${what})`;
  return {
    // Nothing was sent yet: the write was not attempted.
    get: (service, key) => withDeadline(ids.get(service, key), waitMs, () => new LegError('unavailable', late('look-up'), STORE)),
    // After the orchestrator made the session (or deleted it): the mapping may still be written, an unknown outcome.
    set: (service, key, id) => withDeadline(ids.set(service, key, id), waitMs, () => new LegError('timeout', late('write'), STORE)),
    delete: (service, key) => withDeadline(ids.delete(service, key), waitMs, () => new LegError('timeout', late('delete'), STORE)),
  };
}
