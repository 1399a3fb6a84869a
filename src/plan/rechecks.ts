/**
 * Deferred re-checks (as ghostferry's verifier re-checks rows touched by live writes): a shadow read skipped
 * because a write to its key was in flight is read again on both sides once that key's writes have settled,
 * and compared then; within a bounded delay and budget, or given up and counted as never compared. Sides
 * that agree are a match whatever else is under way; sides apart wait while the store holds writes to the key.
 */
import { pyDumps } from '../util/pyjson.js';
import type { Observation } from '../comparison/observation.js';
import type { Route } from '../routes/route.js';
import type { KeyActivity } from './key-activity.js';
import type { Side } from './plan.js';

export interface RecheckOptions {
  /** From the skipped read to the last try; past it the read is given up (never compared). */
  maxDelayMs: number;
  /** Distinct reads waiting at once; beyond it a skipped read is given up at once. */
  maxPending: number;
  /** Re-checks reading both sides at once. */
  concurrency: number;
}

/** A comparison made: whether the sides agreed, and how to tell the observers (a re-check: the skipped reads it stands for). */
export interface Verdict {
  agree: boolean;
  report(recheck?: number): void;
}

/** Why a skipped read was never compared. */
export type GiveUp = 'budget' | 'unsettled' | 'side_failed';

export interface Reads {
  legacy: Observation;
  fresh: Observation;
  again?: Observation;
}

export interface RecheckDeps {
  activity: KeyActivity;
  /** The route's activity key (service and session / user). */
  keyOf(route: Route): string;
  /** Whether the key has writes not landed on either side (held by the outbox here or by another replica). */
  unlanded(route: Route): Promise<boolean>;
  /** Reads the route on both sides (`again`: legacy a second time, when the noise baseline samples it); rejects when a side fails. */
  readBoth(route: Route): Promise<Reads>;
  /** Both sides read while the key stayed settled: compares them. */
  compare(route: Route, primary: Side, reads: Reads): Verdict;
  giveUp(route: Route, covered: number, why: GiveUp): void;
}

interface Deferred {
  route: Route;
  key: string;
  primary: Side;
  /** Skipped reads of the same request (session and arguments) this re-check stands for. */
  covered: number;
  deadline: number;
  /** A try found the sides apart while the key had writes held elsewhere: looked up before reading from then on. */
  held: boolean;
  timer: NodeJS.Timeout | undefined;
  listening: boolean;
  running: boolean;
}

/** Between tries when the key is held elsewhere (the outbox, another replica) or changed under a try. */
const RETRY_MS = 100;

export class Rechecks {
  private readonly pending = new Map<string, Deferred>();
  private running = 0;
  private closed = false;

  constructor(
    private readonly deps: RecheckDeps,
    private readonly opts: RecheckOptions,
  ) {}

  /** Skipped reads waiting for their key to settle. */
  get size(): number {
    return this.pending.size;
  }

  /** Takes a skipped read: re-checked once its key has settled, together with later skips of the same request. */
  defer(route: Route, primary: Side): void {
    const key = this.deps.keyOf(route);
    const id = `${key}\u0000${route.action}\u0000${requestShape(route.request)}`;
    const had = this.pending.get(id);
    if (had) {
      had.covered++;
      return;
    }
    if (this.closed || this.pending.size >= this.opts.maxPending) {
      this.deps.giveUp(route, 1, 'budget');
      return;
    }
    const d: Deferred = {
      route,
      key,
      primary,
      covered: 1,
      deadline: Date.now() + this.opts.maxDelayMs,
      held: false,
      timer: undefined,
      listening: false,
      running: false,
    };
    this.pending.set(id, d);
    this.wait(id, d, 0);
  }

  /** Gives up every waiting re-check (shutdown): each is counted as never compared. */
  close(): void {
    this.closed = true;
    for (const [id, d] of this.pending) this.finish(id, d, 'budget');
  }

  private wait(id: string, d: Deferred, delayMs: number): void {
    // Tried as soon as the key goes idle here; the timer covers writes held elsewhere, and the deadline.
    if (!d.listening && this.deps.activity.busy(d.key)) {
      d.listening = true;
      this.deps.activity.whenIdle(d.key, () => {
        d.listening = false;
        void this.attempt(id);
      });
    }
    clearTimeout(d.timer);
    d.timer = setTimeout(() => void this.attempt(id), Math.min(Math.max(delayMs, 1), Math.max(1, d.deadline - Date.now()))).unref();
  }

  private async attempt(id: string): Promise<void> {
    const d = this.pending.get(id);
    if (!d || d.running) return;
    if (Date.now() >= d.deadline) return this.finish(id, d, 'unsettled');
    const { activity } = this.deps;
    if (activity.busy(d.key) || this.running >= this.opts.concurrency) return this.wait(id, d, RETRY_MS);
    d.running = true;
    this.running++;
    try {
      if (d.held && (await this.deps.unlanded(d.route))) return this.wait(id, d, RETRY_MS);
      const version = activity.version(d.key);
      const reads = await this.deps.readBoth(d.route);
      // A write that began meanwhile may have reached one side's read and not the other's.
      if (!activity.unchangedSince(d.key, version)) return this.wait(id, d, RETRY_MS);
      const verdict = this.deps.compare(d.route, d.primary, reads);
      // Sides that agree need no look-up; sides apart may be a write held elsewhere (the outbox, another replica).
      if (!verdict.agree && !d.held && (await this.deps.unlanded(d.route))) {
        d.held = true;
        return this.wait(id, d, RETRY_MS);
      }
      if (this.pending.get(id) !== d) return; // given up meanwhile (closed)
      this.pending.delete(id);
      clearTimeout(d.timer);
      // Counted now: skipped reads that joined while the store was asked are covered by this comparison too.
      verdict.report(d.covered);
    } catch {
      this.finish(id, d, 'side_failed');
    } finally {
      d.running = false;
      this.running--;
    }
  }

  private finish(id: string, d: Deferred, why: GiveUp): void {
    if (this.pending.get(id) !== d) return; // given up already (closed while a try was under way)
    this.pending.delete(id);
    clearTimeout(d.timer);
    this.deps.giveUp(d.route, d.covered, why);
  }
}

/** A request's arguments without its request id: two reads asking the same thing share one re-check. */
function requestShape(request: Record<string, unknown>): string {
  const { request_id: _ignored, ...rest } = request;
  return pyDumps(rest);
}
