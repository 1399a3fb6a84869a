/**
 * Both sides' records of some keys at one point of the write flow, while agents may be writing them: the primary read
 * first, the secondary once every write of those keys stored before that read has landed there (and shows). Each of
 * the keys' writes the primary read holds is then on the secondary too; the secondary may hold newer ones after them.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { other, type Side } from '../plan/plan.js';
import type { ServiceName } from '../services/registry.js';
import type { CanonicalRecord } from '../services/records.js';
import type { OutboxTable } from '../outbox/table.js';
import type { KeyReader } from './source.js';
import { mapLimit } from './pace.js';

export type Records = Map<string, CanonicalRecord>;

export interface SettledRead {
  primary: Side;
  legacy: Records;
  new: Records;
  /**
   * Keys written from shortly before the primary read on (their outbox rows): only these can hold on the secondary
   * writes newer than that read. Elsewhere what the secondary alone holds was there before it (a write served first on
   * the secondary whose copy was lost with its replica), a difference, not a write on its way.
   */
  live: Set<string>;
}

/** How long writes towards the secondary, and a store written behind its replies, are waited for (then read as it is). */
const SETTLE_WAIT_MS = 10_000;
const POLL_MS = 100;
/** A write stored this long before the primary read may still be on its way to the primary (a slow call, a store behind). */
const LIVE_MARGIN_MS = 10_000;

/**
 * Each of `sides` reads keys as it holds them now (LegacyReads for legacy). A write's intent
 * is stored before its primary call, so every write in the primary read is at or below its key's last seq taken after
 * that read; those still open towards the secondary are waited for. Writes not stored (a replica holding them in memory
 * while the store is away) are not seen.
 */
export async function readSettled(
  table: OutboxTable,
  service: ServiceName,
  keys: readonly string[],
  primary: Side,
  sides: Record<Side, KeyReader>,
): Promise<SettledRead> {
  const secondary = other(primary);
  const since = new Date(Date.now() - LIVE_MARGIN_MS);
  const first = byKey(await sides[primary].recordsOf(keys));
  const marks = await table.lastSeqs(service, keys);
  const deadline = Date.now() + SETTLE_WAIT_MS;
  while (marks.size && (await table.openUpTo(service, secondary, marks)).size && Date.now() < deadline) await sleep(POLL_MS);
  const later = sides[secondary];
  if (later.showsWrites) await mapLimit([...marks.keys()], 8, async (key) => untilShown(later, await table.recentAdds(service, key, secondary), deadline));
  const second = byKey(await later.recordsOf(keys));
  const live = await table.writtenSince(service, keys, since);
  return primary === 'legacy' ? { primary, legacy: first, new: second, live } : { primary, legacy: second, new: first, live };
}

/** Until `source` shows these acknowledged writes (by write id), or `deadline`: the orchestrator writes its tables behind its replies. */
export async function untilShown(source: KeyReader, writeIds: readonly string[], deadline = Date.now() + SETTLE_WAIT_MS): Promise<void> {
  while (writeIds.length && source.showsWrites && !(await source.showsWrites(writeIds)) && Date.now() < deadline) await sleep(POLL_MS);
}

const byKey = (records: CanonicalRecord[]): Records => new Map(records.map((r) => [r.key, r]));
