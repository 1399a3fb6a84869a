/** A write served to one side alone, as the gap it leaves on the other side is noted: before it, once settled, and when it ends late. */
import { LegError } from '../legs/types.js';

/** A write that leaves a side behind, as the runner's `missed` dep reports it (SideGaps). */
export interface MissedWrite {
  /** Set when the write must wait for its gap's record first (the first one a process serves). */
  stored?: Promise<void>;
  /** Notes the gap again: the store's next flush stamps it. */
  settled(): void;
}

/**
 * Runs `write` with its gap noted before the call (a write that times out may still land), once it settled, and when
 * a call of it left unanswered ends late (answered late, or worked off after its connection was given up: LegError.late):
 * it may land then, after a repair began, and a repair that began earlier must not take the gap for closed.
 */
export async function leavingBehind<T>(gap: MissedWrite, write: () => Promise<T>): Promise<T> {
  await gap.stored;
  try {
    return await write();
  } catch (err) {
    if (err instanceof LegError) void err.late?.then(gap.settled);
    throw err;
  } finally {
    gap.settled();
  }
}
