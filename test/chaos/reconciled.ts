/**
 * The chaos probe's CHAOS_RECONCILE=1: `memshift reconcile` of each service, `--repair` where it finds differences, and
 * again: the problems are the differences left, but a contextual session's gap on legacy (a parked copy's write lost)
 * that the repair names as passing with newer writes, and any acknowledged write the repairs took from the orchestrator
 * (it keeps the history legacy drops).
 */
import type { useChildStack } from '../hangs/support.js';
import type { Agent } from '../hangs/load.js';
import { legacyRecords, memoriesOf, newDecisions, newRecords, snapshotsOf, type WrittenService } from '../hangs/records.js';
import { numberOf, sentBy } from './judged.js';

export async function reconciled(
  stack: ReturnType<typeof useChildStack>,
  flagsFile: string,
  services: readonly WrittenService[],
  agents: readonly Agent[],
): Promise<string[]> {
  await stack.sims().flush();
  const flags = ['--set', `flags.file=${flagsFile}`];
  const problems: string[] = [];
  // For looking into a write a repair took: each side's records of the key as the repair found them.
  const beforeRepair = new Map<string, { legacy: string[]; fresh: string[] }>();
  for (const service of services) {
    const found = await stack.reconcile(service, [...flags, '--show-values']);
    console.log(found.output);
    if (found.code === 0) continue;
    for (const agent of agents.filter((a) => a.service === service))
      beforeRepair.set(agent.key, { legacy: legacyRecords(stack.sims(), agent), fresh: newRecords(stack.sims(), agent) });
    const repair = await stack.reconcile(service, ['--repair', ...flags]);
    console.log(repair.output);
    const named = (why: RegExp) => [...repair.output.matchAll(new RegExp(`^ {2}\\w+ +(\\S+).*\\n {4}not repaired: .*${why.source}`, 'gm'))].map((m) => m[1]!);
    // Left as the repair names them: a gap passing with newer writes, and writes the truth may lack (their copies to it
    // parked) that a repair from it would remove; the acknowledged writes are checked below all the same.
    const passing = new Set([...named(/leaves the service's window/), ...named(/parked \(their outcome there unknown\)/)]);
    await stack.sims().flush();
    const after = await stack.reconcile(service, flags);
    const left = [...after.output.matchAll(/^ {2}(?:differing|missing_in_new|missing_in_legacy) +(\S+)/gm)].map((m) => m[1]!);
    if (passing.size) console.log(`${service}: not repaired, as the repair names: ${[...passing].join(', ')}`);
    if (after.code !== 0 && (after.code !== 1 || !left.length || left.some((k) => !passing.has(k))))
      problems.push(`${service}: differences after a repair\n${after.output}`);
    // For looking into one: a contextual session's snapshot on each side.
    for (const agent of agents.filter((a) => a.service === 'contextual-memory' && left.includes(a.key)))
      console.log(`${agent.key}: snapshots ${JSON.stringify(snapshotsOf(stack.sims(), agent))}`);
  }
  for (const agent of agents) {
    const held = new Set([...newRecords(stack.sims(), agent), ...newDecisions(stack.sims(), agent)]);
    // Owed: every acknowledged write no clear came after (one the agent was told had failed may have landed).
    const lastClear = Math.max(-1, ...[...agent.cleared].map(numberOf));
    const gone = agent.acked.filter((r) => !agent.cleared.has(r) && numberOf(r) > lastClear && !held.has(r));
    if (!gone.length) continue;
    const tail = (records: string[] | undefined) => JSON.stringify(records?.slice(-60));
    const before = beforeRepair.get(agent.key);
    console.log(
      `${agent.key}: the newest records before the repairs: legacy ${tail(before?.legacy)}, orchestrator ${tail(before?.fresh)}; after, orchestrator ${tail(newRecords(stack.sims(), agent))}; the orchestrator's memories of the first gone ${JSON.stringify(memoriesOf(stack.sims(), agent, gone.slice(0, 3)))}`,
    );
    problems.push(
      `${agent.key}: ${gone.length} acknowledged writes gone from the orchestrator after the repairs (${gone.slice(0, 3).map(sentBy(agent)).join(', ')} ...)`,
    );
  }
  return problems;
}
