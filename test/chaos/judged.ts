/** What the chaos probe holds each agent's key to once the outbox drained: its acknowledged writes on both sides, once each, in their order. */
import type { Agent } from '../hangs/load.js';
import type { SimHandle } from '../../src/tools/sim/index.js';
import { legacyRecords, newDecisions, newRecords, snapshotDecisions } from '../hangs/records.js';
import { queryOnce } from '../outbox/support.js';

/** The agent's records numbered as written (`<key> #<n>`), and the ones out of that order on a side. */
export const numberOf = (record: string) => Number(record.split('#')[1]);
/** Whether a side's record `i` follows one written after it there. */
const afterLater = (records: string[], i: number) => i > 0 && numberOf(records[i]!) < numberOf(records[i - 1]!);
export const outOfOrder = (records: string[]) => records.filter((_, i) => afterLater(records, i));

/** A record's number and when its agent sent it, for looking into a failure. */
export const sentBy = (agent: Agent) => (r: string) => `#${numberOf(r)} sent at ${agent.sentAt.get(r)?.toFixed(2) ?? '?'}s`;

/**
 * For looking into an acknowledged write missing on a side: what became of each of the agent's requests from `from` to
 * `to` (a clear, a decision; acknowledged, or the error its agent was answered, with when it was sent).
 */
export function requestsBetween(agent: Agent, from: number, to: number): string {
  const acked = new Set(agent.acked);
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => {
    const r = `${agent.key} #${from + i}`;
    const kind = agent.cleared.has(r) ? ' (a clear)' : agent.decided.has(r) ? ' (a decision)' : '';
    const outcome = acked.has(r) ? `acknowledged, sent at ${agent.sentAt.get(r)?.toFixed(2)}s` : (agent.writeErrors.get(r) ?? 'no write (a read, or not sent)');
    return `  #${from + i}${kind}: ${outcome}`;
  }).join('\n');
}

/** For looking into a reorder: each pair of a side's records in another order than written, with when the agent sent each. */
export function overtaken(agent: Agent, records: string[]): string[] {
  const sent = sentBy(agent);
  return records.flatMap((r, i) => (afterLater(records, i) ? [`${sent(records[i - 1]!)} before ${sent(r)}`] : []));
}

/**
 * A key's records on each side: its interactions (or memories), and a contextual session's decisions in the snapshot
 * on each side and as the orchestrator's memories.
 */
export interface Sides {
  legacy: string[];
  fresh: string[];
  decisions: { legacy: string[]; fresh: string[]; memories: string[] };
}

export function sidesOf(sims: SimHandle, agent: Agent): Sides {
  const decided = agent.service === 'contextual-memory';
  return {
    legacy: legacyRecords(sims, agent),
    fresh: newRecords(sims, agent),
    decisions: decided ? { ...snapshotDecisions(sims, agent), memories: newDecisions(sims, agent) } : { legacy: [], fresh: [], memories: [] },
  };
}

/** The agent's acknowledged interactions (or memories), in their order: its decisions and clears apart. */
const ackedWrites = (agent: Agent) => agent.acked.filter((r) => !agent.decided.has(r) && !agent.cleared.has(r));

/**
 * The acknowledged writes a side must hold where the agent clears its key: those after the clear that landed last
 * there, the last acknowledged one or a later one the agent was told had failed (its outcome unknown, so it may have
 * landed). The one that accounts for what the side holds; the last acknowledged one where none does.
 */
function sinceClear(agent: Agent, records: string[]): { after: number; wanted: string[] } {
  const acked = new Set(agent.acked);
  const clears = [...agent.cleared];
  const last = clears.findLast((c) => acked.has(c));
  const from = last === undefined ? -1 : numberOf(last);
  const candidates = [from, ...clears.filter((c) => !acked.has(c) && numberOf(c) > from).map(numberOf)];
  const kept = records.filter((r) => acked.has(r)).join();
  const wanted = (after: number) => ackedWrites(agent).filter((r) => numberOf(r) > after);
  const after = candidates.find((c) => wanted(c).join() === kept) ?? from;
  return { after, wanted: wanted(after) };
}

/**
 * What legacy must hold of the orchestrator's records, and the acknowledged writes among them in their order: all of
 * them, except that ContextualMemoryAgent keeps a session's newest 50 interactions. There, what the agent wrote after
 * the oldest acknowledged write legacy kept (its agent sends one request at a time: each landed on legacy after it).
 */
function legacyShare(agent: Agent, { legacy, fresh }: Sides, parked: Set<string>): { owed: string[]; acked: string[] } {
  if (agent.service !== 'contextual-memory') return { owed: fresh, acked: sinceClear(agent, legacy).wanted };
  const acked = new Set(agent.acked);
  const from = Math.min(...legacy.filter((r) => acked.has(r)).map(numberOf));
  const owed = (r: string) => numberOf(r) >= from && !parked.has(r);
  return { owed: fresh.filter(owed), acked: ackedWrites(agent).filter(owed) };
}

/**
 * The agent's writes parked for reconciliation because ContextualMemoryAgent offers no read that shows them (README
 * "What it cannot tell"): a copy towards it whose outcome is unknown, or the copy towards the orchestrator of a write
 * whose outcome on it is unknown (no late reply came). Legacy is not held to them, nor the orchestrator to legacy's.
 */
export async function parkedUnknowable(url: string, agent: Agent): Promise<Set<string>> {
  const rows = await queryOnce<{ request: string }>(
    url,
    `SELECT convert_from(request, 'UTF8') AS request FROM outbox
      WHERE service = $1 AND key = $2 AND status = 'dead' AND last_error LIKE '%offers no read that shows this write%'`,
    [agent.service, agent.key],
  );
  // A record by its text (an interaction's content, a decision); anything else (a get_context, carried in order as it
  // may cut the snapshot) by its action.
  const named = (q: { content?: unknown; decision?: unknown; action?: unknown }) => String(q.content ?? q.decision ?? q.action);
  return new Set(rows.map((r) => named(JSON.parse(r.request) as Record<string, unknown>)));
}

/** The store's count of writes taken over and copied as applied with nothing to tell (README "What it cannot tell"), per service. */
export async function assumedApplied(url: string): Promise<string> {
  const rows = await queryOnce<{ service: string; n: string }>(
    url,
    `SELECT service, sum(count) AS n FROM unknown_outcomes WHERE outcome = 'assumed' GROUP BY service ORDER BY service`,
  );
  return rows.map((r) => `${r.service} ${r.n}`).join(', ') || 'none';
}

/**
 * The outbox's rows of the agent's key made from `fromS` to `toS` seconds after the load began (`startedAt`, epoch ms),
 * their times counted the same way: for looking into a stale read (where a copy of its write was when it was read).
 */
export async function rowsBetween(url: string, agent: Agent, startedAt: number, fromS: number, toS: number): Promise<string> {
  const rows = await queryOnce<Record<string, unknown>>(
    url,
    `SELECT seq, side, status, attempts, primary_ok, primary_unknown, last_error, created_at, acked_at, updated_at FROM outbox
      WHERE service = $1 AND key = $2 AND created_at BETWEEN $3 AND $4 ORDER BY seq`,
    [agent.service, agent.key, new Date(startedAt + fromS * 1000), new Date(startedAt + toS * 1000)],
  );
  const at = (v: unknown) => (v instanceof Date ? `${((v.getTime() - startedAt) / 1000).toFixed(2)}s` : '-');
  return rows.map((r) => `  ${JSON.stringify({ ...r, created_at: at(r.created_at), acked_at: at(r.acked_at), updated_at: at(r.updated_at) })}`).join('\n');
}

/** `wanted` (acknowledged records) in their order among the acknowledged ones of a side's `records`, and none there twice. */
function inOrder(side: string, records: string[], wanted: string[], counted: (r: string) => boolean): string[] {
  const kept = records.filter(counted);
  const at = wanted.findIndex((r, i) => kept[i] !== r);
  const where = at < 0 ? -1 : records.indexOf(wanted[at]!);
  const around = records.slice(Math.max(0, where - 3), where + 4).map(numberOf);
  return [
    ...(at >= 0 ? [`${side}: acknowledged ${wanted[at]} missing or out of order (${side} around it: ${around.join(' ')})`] : []),
    ...(new Set(records).size !== records.length ? [`${side}: a write twice`] : []),
  ];
}

/** What is wrong with the agent's key on the two sides (nothing: an empty list). */
export function judged(agent: Agent, sides: Sides, parked: Set<string>): string[] {
  const share = legacyShare(agent, sides, parked);
  const acked = new Set(agent.acked);
  // A parked copy may or may not have landed on legacy: its place there is not judged.
  const onLegacy = (r: string) => acked.has(r) && !parked.has(r);
  const cleared = [sinceClear(agent, sides.legacy).after, sinceClear(agent, sides.fresh).after];
  const problems = [
    ...inOrder('legacy', sides.legacy, share.acked, onLegacy),
    ...inOrder('new', sides.fresh, sinceClear(agent, sides.fresh).wanted, (r) => acked.has(r)),
  ];
  // A clear the agent was told had failed may have landed, but on both sides or neither: else one lacks acknowledged writes the other holds.
  if (cleared[0] !== cleared[1]) problems.push(`cleared after #${cleared[0]} on legacy, after #${cleared[1]} on new`);
  if (lone(sides, share.owed, parked).length) problems.push('a write on one side only');
  // Decisions: the agent keeps every one (no window), the orchestrator as memories and in the snapshot get_context answers.
  const decisions = agent.acked.filter((r) => agent.decided.has(r));
  const { legacy, fresh, memories } = sides.decisions;
  problems.push(
    ...inOrder(
      'legacy decisions',
      legacy,
      decisions.filter((r) => !parked.has(r)),
      onLegacy,
    ),
    ...inOrder('new decisions', fresh, decisions, (r) => acked.has(r)),
    ...inOrder('new decision memories', memories, decisions, (r) => acked.has(r)),
  );
  const [memoriesOnly, snapshotOnly] = [memories.filter((r) => !fresh.includes(r)), fresh.filter((r) => !memories.includes(r))];
  const sentAt = sentBy(agent);
  if (memoriesOnly.length || snapshotOnly.length)
    problems.push(
      `the orchestrator's decisions and its snapshot's differ: as memories only ${memoriesOnly.map(sentAt).join(' ') || '-'}, ` +
        `in its snapshot only ${snapshotOnly.map(sentAt).join(' ') || '-'} (${memories.length} memories, ${fresh.length} in its snapshot)`,
    );
  if (loneDecisions(sides, parked).length) problems.push('a decision on one side only');
  return problems;
}

/** Writes on legacy the orchestrator lacks (but parked ones: legacy's outcome unknown), and those legacy owes (legacyShare) and lacks. */
function lone({ legacy, fresh }: Sides, owed: string[], parked: Set<string>): string[] {
  const [l, f] = [new Set(legacy), new Set(fresh)];
  return [...legacy.filter((r) => !f.has(r) && !parked.has(r)), ...owed.filter((r) => !l.has(r))];
}

/** Decisions on one side only, but parked ones (legacy keeps them all: it owes every one). */
const loneDecisions = ({ decisions }: Sides, parked: Set<string>): string[] =>
  lone(
    { legacy: decisions.legacy, fresh: decisions.memories, decisions },
    decisions.memories.filter((r) => !parked.has(r)),
    parked,
  );

/**
 * For looking into a failure: the agent's writes that one side holds and the other not, the key's outbox rows other
 * than done ones (a finished row's request is scrubbed: its write is known by its times, not its text), and every row
 * of the key made within a second of each such write's send, done ones too (seed 564: a write on one side only, sent
 * as its replica was killed, with no row left open).
 */
export async function loneRows(url: string, agent: Agent, sides: Sides, parked: Set<string>, startedAt: number): Promise<string> {
  const lonely = [...lone(sides, legacyShare(agent, sides, parked).owed, parked), ...loneDecisions(sides, parked)];
  const rows = await queryOnce(
    url,
    `SELECT seq, side, status, attempts, sent, primary_ok, primary_unknown, last_error, created_at, acked_at, updated_at
       FROM outbox WHERE service = $1 AND key = $2 AND status <> 'done' ORDER BY seq`,
    [agent.service, agent.key],
  );
  const acked = new Set(agent.acked);
  const onLegacy = new Set([...sides.legacy, ...sides.decisions.legacy]);
  const near = await Promise.all(
    lonely.map(async (r) => {
      const sent = agent.sentAt.get(r);
      return sent === undefined ? [] : [`  rows made within 1 s of ${numberOf(r)}'s send:`, await rowsBetween(url, agent, startedAt, sent - 1, sent + 1)];
    }),
  );
  return [
    `  lone: ${lonely.map((r) => `${numberOf(r)} on ${onLegacy.has(r) ? 'legacy' : 'new'} only ${acked.has(r) ? '(acknowledged)' : `(${agent.writeErrors.get(r) ?? 'not answered'})`}`).join(', ')}`,
    ...rows.map((r) => `  ${JSON.stringify(r)}`),
    ...near.flat(),
  ].join('\n');
}
