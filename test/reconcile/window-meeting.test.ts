/**
 * A windowed repair (contextual-memory's 50 interactions) whose side holds the truth's elements stamped later than the
 * truth by more than the tolerance (copies stamped when their primary's slow acknowledgement was seen): the side's
 * element before the truth's window is history the window says nothing of, kept (chaos seed 444 lost one so).
 * Likewise where another list (decisions in another order) makes the repair empty the key (chaos seed 728).
 */
import { describe, expect, it } from 'vitest';
import { syncKey, type SideWriter } from '../../src/reconcile/repair.js';
import { withNewer } from '../../src/reconcile/newer.js';
import type { CanonicalRecord } from '../../src/services/records.js';
import type { LegacyRequest } from '../../src/services/types.js';

const SERVICE = 'contextual-memory';
const T = 1_796_000_000;

/** Interaction #n as the reconciler reads it: type, content, metadata, then its time (epoch seconds). */
const element = (n: number, late = 0): unknown[] => ['user_query', `k #${n}`, null, T + n + late];

/** #from.. #from+49, each `late` seconds after the truth's stamp. */
const window = (from: number, late = 0) => Array.from({ length: 50 }, (_, i) => element(from + i, late));

const record = (header: string, interactions: unknown[][], decisions: unknown[][] = []): CanonicalRecord => ({
  key: 'k',
  header: [{ conversation_summary: header }],
  lists: [interactions, decisions],
});

/** A writer that records what the repair asks of the orchestrator's side. */
function recording() {
  const dropped: number[] = [];
  const droppedDecisions: number[] = [];
  const appended: string[] = [];
  const writer: SideWriter = {
    send: async (r: LegacyRequest) => void appended.push(String(r.content ?? r.decision)),
    dropNewest: async (_key, list, count) => void (list === 0 ? dropped : droppedDecisions).push(count),
    restore: async () => {},
  };
  return { writer, dropped, droppedDecisions, appended };
}

describe('a windowed repair of a side stamped later than the truth', () => {
  it("keeps the side's element before the truth's window when its copies are stamped 2 s late (tolerance 1 s)", async () => {
    // The orchestrator holds #0-#49 (and history before), legacy #1-#50: #0 fell out of legacy's window, which #50 entered.
    const { writer, dropped, appended } = recording();
    await syncKey(SERVICE, 'k', record('legacy', window(1)), record('new', window(0, 2)), writer, 1);
    // #0 stays: at most #1-#49 go, and the truth's window is written after it.
    expect(dropped).toEqual([49]);
    expect(appended).toEqual(window(1).map((e) => e[1]));
  });

  it('keeps it where the truth is first given what the side holds newer (as a repair beside live writes does)', async () => {
    // The side's copy of #49, stamped at #50's time and more, is no newer write: taken for one, the target outgrew the
    // window and the repair cleared the key (this writer has no clear: it would throw).
    const { writer, dropped, appended } = recording();
    const current = record('new', window(0, 2));
    await syncKey(SERVICE, 'k', withNewer(SERVICE, record('legacy', window(1)), current, 1), current, writer, 1);
    expect(dropped).toEqual([49]);
    expect(appended).toEqual(window(1).map((e) => e[1]));
  });

  it('drops only what follows the gap where the stamps agree', async () => {
    // The orchestrator lacks #48 of legacy's window (#1-#50); its own window reaches back to #0.
    const mine = [...window(0).filter((e) => e[1] !== 'k #48'), element(50)];
    const { writer, dropped, appended } = recording();
    await syncKey(SERVICE, 'k', record('legacy', window(1)), record('new', mine), writer, 1);
    expect(dropped).toEqual([2]);
    expect(appended).toEqual(['k #48', 'k #49', 'k #50']);
  });

  it("keeps the side's element before the truth's window where the decisions, in another order, are written again", async () => {
    // Chaos seed 728: a decision landed late on the orchestrator (last there, in its place on legacy), so the key's
    // lists do not all meet and the repair empties them; the orchestrator's #0, which legacy's window had just left
    // (#50 entered it), went with the emptying, an acknowledged write gone from both sides' windows and from history.
    const decision = (d: string, n: number) => [d, T + n];
    const truth = record('legacy', window(1), [decision('early', 0), decision('late', 2)]);
    const current = record('new', window(0), [decision('late', 2), decision('early', 0)]);
    const { writer, dropped, droppedDecisions, appended } = recording();
    await syncKey(SERVICE, 'k', truth, current, writer, 1);
    expect({ dropped, droppedDecisions }).toEqual({ dropped: [49], droppedDecisions: [2] });
    expect(appended).toEqual([...window(1).map((e) => e[1]), 'early', 'late']);
  });
});
