/** What a write needs before it runs: the id of a session both sides will hold, and its key's turn across replicas. */
import { randomUUID } from 'node:crypto';
import type { Route } from '../routes/route.js';
import { busyAsUnsent, type Keep, type KeyLocks } from '../services/types.js';
import { pyDumps } from '../util/pyjson.js';
import type { Plan } from './plan.js';

/**
 * A create_session without a session_id lets each side invent its own; when both sides will hold the
 * session, memshift picks the id (as the legacy default would: a uuid4) so they agree.
 */
export function withSharedId(route: Route, plan: Plan): Route {
  if (route.action !== 'create_session' || route.request.session_id !== undefined) return route;
  if (!plan.writeSecondary && plan.primary === 'legacy') return route;
  const { parsed: _stale, ...rest } = route;
  const request = { ...route.request, session_id: randomUUID() };
  return { ...rest, request, key: request.session_id, raw: Buffer.from(pyDumps(request)) };
}

/**
 * A dual-write under its key's write-order lock (`order`; without one, as it is). A key held by another replica past
 * the wait fails the write unsent, as a backend with no room would: nothing stored, nothing sent, and `notBegun` told.
 */
export function inWriteOrder<T>(order: KeyLocks | undefined, route: Route, notBegun: () => void, work: (keep: Keep) => Promise<T>): Promise<T> {
  if (!order || route.key === undefined) return work(() => undefined);
  let ran = false;
  const run = (keep: Keep) => {
    ran = true;
    return work(keep);
  };
  return order.hold(route.service, route.key, run).catch((err: unknown) => {
    if (ran) throw err;
    notBegun();
    throw busyAsUnsent(err);
  });
}
