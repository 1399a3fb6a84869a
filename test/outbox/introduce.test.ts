/**
 * A replica that starts binds its fronts only once the replicas already serving have read it in the store: the moment
 * the second of two replicas serves, the first counts it (hold-alone would otherwise hold writes in memory as if alone
 * should the store go away then, and the second's writes of the same keys overtake them).
 */
import { expect, it } from 'vitest';
import { flagName } from '../../src/flags/names.js';
import { useReplicas } from '../support/replicas.js';

const TOKEN = 'introduce-token';
// A publication a second: without the wait the first replica would mostly read the second's row only after it serves.
const replicas = useReplicas({ [flagName('session-memory', 'dual-write')]: { enabled: true } }, 2, {
  admin: { token: TOKEN },
  outbox: { fleetEveryMs: 1_000 },
});

it('is counted by the replica already serving as soon as it serves', async () => {
  // Read at once, no wait: the second replica was started (and so serves) by the time this test runs.
  const res = await fetch(`${replicas.proxies()[0]!.httpUrl}/admin/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(((await res.json()) as { fleet: { live: number } }).fleet.live).toBe(2);
});
