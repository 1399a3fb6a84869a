/**
 * The outbox's own attempt at a secondary write whose translation goes on past its deadline (a late reply, then
 * its next call): the retry's look-up must come after the translation's last call, or it finds the write absent
 * and sends it again. Real PostgreSQL under the outbox; the new side is a fake that lands the late attempt later.
 */
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Observation } from '../../src/comparison/observation.js';
import { parseConfig } from '../../src/config.js';
import type { Leg } from '../../src/legs/types.js';
import { Outbox } from '../../src/outbox/outbox.js';
import { fanOut } from '../../src/plan/observer.js';
import { LateTranslation } from '../../src/plan/sides.js';
import { routeRequest } from '../../src/routes/route.js';
import type { Translator } from '../../src/services/types.js';
import { pgPool } from '../../src/util/pg-url.js';
import { migrate } from '../../src/store/migrations.js';
import { freshDatabaseUrl } from '../support/database.js';
import { describeOpenRows, sleep, waitUntil } from './support.js';

/** When the first attempt's translation sends its last call: well past the deadline, a retry's backoff and a lease of 600 ms. */
const LATE_MS = 2_000;

let pool: pg.Pool;
let url: string;
beforeAll(async () => {
  url = await freshDatabaseUrl();
  pool = pgPool(url, 'test', [], { connectionTimeoutMillis: 10_000 });
  await migrate(pool);
});
afterAll(() => pool.end());

/** The new side: writes landed there (by write id), and how many times the outbox sent one. */
function newSide() {
  const landed: string[] = [];
  let sent = 0;
  let lateEnded = false;
  const apply = (writeId: string): Promise<Observation> => {
    sent++;
    if (sent > 1) {
      landed.push(writeId);
      return Promise.resolve(new Observation('new', 1, { value: { status: 'success' } }));
    }
    // The first attempt: its deadline passes while the translation waits on a slow reply; its last call lands after.
    const attempt = sleep(LATE_MS).then(() => {
      landed.push(writeId);
      lateEnded = true;
    });
    return sleep(20).then(() => Promise.reject(new LateTranslation('new side gave no answer within 20 ms', 'fake', attempt)));
  };
  // A replica that did not send the write drains the connection first (a barrier of pings): a real backend answers them.
  const leg = { endpoint: 'fake', timeoutMs: 1000, connection: () => 1, call: () => Promise.resolve(Buffer.from('{"status": "ok"}')) } as unknown as Leg;
  const translator = { lookup: (_request: unknown, id: string) => Promise.resolve(landed.includes(id) ? 'applied' : 'absent') } as unknown as Translator;
  return { landed, apply, sides: { legacy: leg, newLeg: leg, translator }, sent: () => sent, lateEnded: () => lateEnded };
}

/** An outbox on the shared database whose writes go to `side`. */
function outboxOn(side: ReturnType<typeof newSide>, leaseMs: number): Outbox {
  return new Outbox({
    pool,
    apply: (_route, _side, writeId) => side.apply(writeId!),
    sides: () => side.sides,
    primaryBudgetMs: 100,
    barrierPings: () => 1,
    observer: fanOut([]),
    services: ['session-memory'],
    config: parseConfig({ outbox: { leaseMs, pollMs: 100 } }).outbox,
    connectionLossMs: 10_000,
  }).start();
}

// A lease shorter than the late translation, with another replica polling: the claim is renewed while it waits.
describe.each([{ leaseMs: 30_000 }, { leaseMs: 600 }])('with a lease of $leaseMs ms and another replica', ({ leaseMs }) => {
  it('looks a late attempt up only once its translation has ended, and sends it no second time', async () => {
    const side = newSide();
    const [outbox, replica] = [outboxOn(side, leaseMs), outboxOn(side, leaseMs)];
    try {
      const raw = Buffer.from(JSON.stringify({ action: 'add_interaction', session_id: `late-${leaseMs}`, role: 'user', content: 'one' }));
      const routed = routeRequest('session-memory', raw, Number.MAX_SAFE_INTEGER);
      if (!routed.ok) throw new Error(routed.reason);
      const pending = await outbox.open({ route: routed.route, side: 'new', done: () => undefined });
      pending.settle('applied');

      await waitUntil(
        async () => side.lateEnded() && (await outbox.stats()).depth === 0,
        30_000,
        'the write finished and the late attempt ended',
        () => describeOpenRows(url),
      );
      expect(side.landed).toEqual([pending.writeId]);
      expect(side.sent()).toBe(1);
    } finally {
      await Promise.all([outbox.close(), replica.close()]);
    }
  }, 60_000);
});
