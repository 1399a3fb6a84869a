/** Agents writing their own key through memshift one request at a time (reading it back now and then), with what was acknowledged and when errors came. */
import { ReqClient } from '../support/zmq-client.js';
import type { WrittenService } from './records.js';

/** What one agent wrote: its key, the records it sent in order with whether each was acknowledged, and when errors came. */
export interface Agent {
  service: WrittenService;
  key: string;
  acked: string[];
  /** The records sent as decisions (LoadOptions.decideEvery), acknowledged or not. */
  decided: Set<string>;
  /** The records sent as clears of the key (LoadOptions.clearEvery), in their order, acknowledged or not: they add nothing. */
  cleared: Set<string>;
  /** When each request that failed was sent. */
  errorsAt: number[];
  /** The writes answered with an error, and the error's words (with when each was sent, in seconds after the load started). */
  writeErrors: Map<string, string>;
  /** When each write was sent, in seconds after the load started. */
  sentAt: Map<string, number>;
  /** Read-backs (LoadOptions.readEvery) whose reply lacked the agent's last acknowledged write. */
  staleReads: string[];
  /** For each stale read-back's record: when the read was sent (seconds after the load started) and the front it went to. */
  staleReadsSent: Map<string, string>;
  /** For each stale read-back's record: when the read was sent, in seconds after the load started. */
  staleReadsAt: Map<string, number>;
  /** Read-backs made, and those answered with an error (a refusal rather than a stale reply counts here), by the error's words. */
  reads: { made: number; failed: number; why: Map<string, number> };
}

export interface LoadOptions {
  prefix: string;
  /** Agents per service (none for a service not named). */
  agents: Partial<Record<WrittenService, number>>;
  /** Each agent's pace (one request at a time in any case). */
  intervalMs: number;
  /** Where agent `a` of `service` sends its `n`-th request (replicas: alternate). */
  endpoint(service: WrittenService, a: number, n: number): string | undefined;
  timeoutMs?: number;
  /** Every this many requests an agent reads its key back instead (get_context, get_memories) and looks for its last acknowledged write. */
  readEvery?: number;
  /** Every this many requests a ContextualMemoryAgent agent records its record as a decision (record_decision) instead. */
  decideEvery?: number;
  /** Every this many requests a SessionMemoryAgent or JarvisMemoryAgent agent clears its key (clear_session, clear_memories) instead. */
  clearEvery?: number;
  /** ContextualMemoryAgent as deployed (PROTOCOLS.md 1.2): its replies are those of AS_DEPLOYED_CONTEXTUAL. */
  asDeployed?: boolean;
}

const KEY_LETTER: Record<WrittenService, string> = { 'session-memory': 's', 'jarvis-memory': 'u', 'contextual-memory': 'c' };

/** Agents each writing their own key (a session, a user) until stopped; a record is `<key> #<n>`. */
export class Load {
  readonly agents: Agent[] = [];
  /** When each acknowledgement came, all agents together. */
  private readonly ackTimes: number[] = [];
  private stopping = false;
  /** When the load began (epoch ms): the times it reports count from it. */
  readonly startedAt = Date.now();
  private readonly running: Promise<void>[] = [];

  constructor(private readonly o: LoadOptions) {
    for (const [service, count] of Object.entries(o.agents) as [WrittenService, number][]) {
      for (let a = 0; a < count; a++) {
        const agent: Agent = {
          service,
          key: `${o.prefix}-${KEY_LETTER[service]}${a}`,
          acked: [],
          decided: new Set(),
          cleared: new Set(),
          errorsAt: [],
          writeErrors: new Map(),
          sentAt: new Map(),
          staleReads: [],
          staleReadsSent: new Map(),
          staleReadsAt: new Map(),
          reads: { made: 0, failed: 0, why: new Map() },
        };
        this.agents.push(agent);
        this.running.push(this.run(agent, a));
      }
    }
  }

  get acked(): number {
    return this.agents.reduce((n, a) => n + a.acked.length, 0);
  }

  /** Acknowledgements that came within [from, to). */
  ackedBetween(from: number, to: number): number {
    return this.ackTimes.filter((t) => t >= from && t < to).length;
  }

  /** Agent-visible errors of requests sent outside the given windows (when memshift itself was down, say). */
  errorsOutside(windows: [number, number][]): number {
    return this.agents.flatMap((a) => a.errorsAt).filter((t) => !windows.some(([from, to]) => t >= from && t <= to)).length;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.running);
  }

  private ack(agent: Agent, record: string): void {
    agent.acked.push(record);
    this.ackTimes.push(Date.now());
  }

  private async run(agent: Agent, a: number): Promise<void> {
    const clients = new Map<string, ReqClient>();
    const protocol = agent.service === 'contextual-memory' && this.o.asDeployed ? AS_DEPLOYED_CONTEXTUAL : PROTOCOL[agent.service];
    /** Whether `ok` took the reply; else `why` hears the error's words (a timeout's, or the reply's). */
    const call = async (endpoint: string | undefined, request: unknown, ok: (reply: unknown) => boolean, why?: (error: string) => void) => {
      if (!endpoint) throw new Error(`no front for ${agent.service}`);
      let c = clients.get(endpoint);
      if (!c) clients.set(endpoint, (c = new ReqClient(endpoint, this.o.timeoutMs ?? 5_000)));
      const sentAt = Date.now();
      try {
        const reply = await c.call(request);
        if (ok(reply)) return true;
        const o = isRecord(reply) ? reply : {};
        why?.(String(o.message ?? o.reason ?? o.status ?? JSON.stringify(reply)));
      } catch (err) {
        why?.(`no reply: ${(err as Error).message}`);
        // A REQ socket that timed out is stuck: a new one next time.
        c.close();
        clients.delete(endpoint);
      }
      agent.errorsAt.push(sentAt);
      return false;
    };
    // Only SessionMemoryAgent wants its session made first.
    let created = agent.service !== 'session-memory';
    /** Writes answered with an error since the last acknowledged one (their outcome unknown), and whether a clear was one. */
    const erred = { count: 0, clear: false };
    try {
      for (let n = 0; !this.stopping; n++) {
        const next = Date.now() + this.o.intervalMs;
        const endpoint = this.o.endpoint(agent.service, a, n);
        const record = `${agent.key} #${n}`;
        const last = agent.acked.at(-1);
        if (!created) {
          created = await call(endpoint, { action: 'create_session', session_id: agent.key, user_id: agent.key }, (r) => isRecord(r) && r.status === 'success');
        } else if (this.o.readEvery && n % this.o.readEvery === 0 && last) {
          // Read your writes: a reply that lacks the last acknowledged write is stale (an error is not).
          agent.reads.made++;
          const readAt = Date.now();
          const answered = await call(
            endpoint,
            protocol.read(agent.key),
            (r) => {
              if (!protocol.answered(r)) return false;
              if (!stale(agent, protocol, r, last, erred)) return true;
              agent.staleReads.push(last);
              agent.staleReadsAt.set(last, (readAt - this.startedAt) / 1000);
              agent.staleReadsSent.set(last, `read sent at ${agent.staleReadsAt.get(last)!.toFixed(1)}s to ${endpoint}`);
              return true;
            },
            (error) => agent.reads.why.set(error, (agent.reads.why.get(error) ?? 0) + 1),
          );
          if (!answered) agent.reads.failed++;
        } else if (
          await call(endpoint, this.writing(agent, protocol, record, n), protocol.written, (error) =>
            agent.writeErrors.set(record, `${error} (sent at ${agent.sentAt.get(record)!.toFixed(1)}s)`),
          )
        ) {
          this.ack(agent, record);
          Object.assign(erred, { count: 0, clear: false });
        } else {
          erred.count++;
          erred.clear ||= agent.cleared.has(record);
        }
        await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
      }
    } finally {
      for (const c of clients.values()) c.close();
    }
  }

  /** Record `n`'s request, about to be sent (noted): a decision every `decideEvery` requests, a clear every `clearEvery`, where the service has them. */
  private writing(agent: Agent, protocol: AgentProtocol, record: string, n: number): unknown {
    agent.sentAt.set(record, (Date.now() - this.startedAt) / 1000);
    const every = (k: number | undefined) => k !== undefined && n % k === k - 1;
    if (protocol.decide && every(this.o.decideEvery)) {
      agent.decided.add(record);
      return protocol.decide(agent.key, record);
    }
    if (protocol.clear && every(this.o.clearEvery)) {
      agent.cleared.add(record);
      return protocol.clear(agent.key);
    }
    return protocol.write(agent.key, record, n);
  }
}

/** Whether an answered read-back lacks the agent's last acknowledged write, `last` (false where it cannot tell). */
function stale(agent: Agent, protocol: AgentProtocol, reply: unknown, last: string, erred: { count: number; clear: boolean }): boolean {
  // A clear the agent was told had failed may have landed since: what was written before it may be gone.
  if (erred.clear) return false;
  if (agent.cleared.has(last)) {
    // After a clear, a stale reply shows the write acknowledged before it.
    const before = agent.acked.findLast((x) => !agent.cleared.has(x));
    return before !== undefined && protocol.shows(reply, before, { interactions: 0, erred: erred.count, decision: false }) === true;
  }
  const interactions = agent.acked.filter((x) => !agent.decided.has(x)).length;
  return protocol.shows(reply, last, { interactions, erred: erred.count, decision: agent.decided.has(last) }) === false;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** How each service's agent writes record `n` of its key and reads the key back, and what the replies mean (PROTOCOLS.md 1). */
interface AgentProtocol {
  write(key: string, record: string, n: number): unknown;
  written(reply: unknown): boolean;
  /** Record as a decision, where the service has them (its reply read by `written`). */
  decide?(key: string, record: string): unknown;
  /** Clear the key, where the service can (its reply read by `written`). */
  clear?(key: string): unknown;
  read(key: string): unknown;
  /** An answer to the read, not an error. */
  answered(reply: unknown): boolean;
  /**
   * Whether an answered read shows `record` (the last acknowledged write, a decision or not), undefined where the reply
   * cannot tell: `interactions` acknowledged so far, `erred` writes answered with an error since `record`.
   */
  shows(reply: unknown, record: string, history: { interactions: number; erred: number; decision: boolean }): boolean | undefined;
}

const PROTOCOL: Record<WrittenService, AgentProtocol> = {
  'session-memory': {
    write: (key, record, n) => ({ action: 'add_interaction', session_id: key, role: n % 2 ? 'assistant' : 'user', content: record }),
    written: (r) => isRecord(r) && r.status === 'success',
    clear: (key) => ({ action: 'clear_session', session_id: key }),
    read: (key) => ({ action: 'get_context', session_id: key }),
    answered: (r) => isRecord(r) && r.status === 'success',
    shows: (r, record) => JSON.stringify(r).includes(`"${record}"`),
  },
  'jarvis-memory': {
    write: (key, record) => ({ action: 'add_memory', user_id: key, memory: { record } }),
    written: (r) => isRecord(r) && r.status === 'ok',
    clear: (key) => ({ action: 'clear_memories', user_id: key }),
    read: (key) => ({ action: 'get_memories', user_id: key }),
    answered: (r) => isRecord(r) && r.status === 'ok',
    shows: (r, record) => JSON.stringify(r).includes(`"${record}"`),
  },
  // Bare true for a write; get_context answers the stored snapshot (bare null before the session passes 50
  // interactions or records a decision), whose conversation summary lists the three newest queries, each as
  // "- <text[:100]>...", and whose key_decisions hold every decision recorded.
  'contextual-memory': {
    write: (key, record, n) => {
      const type = contextualType(n);
      return { action: 'add_interaction', session_id: key, type, content: record, ...(type === 'code' ? { metadata: { language: 'python', n } } : {}) };
    },
    written: (r) => r === true,
    decide: (key, record) => ({ action: 'record_decision', session_id: key, decision: record }),
    read: (key) => ({ action: 'get_context', session_id: key }),
    answered: (r) => r === null || (isRecord(r) && r.status === undefined),
    // A decision is kept for good; past 50 interactions with no write unknown since the last acknowledged one, a query is the newest.
    shows: (r, record, { interactions, erred, decision }) =>
      decision
        ? isRecord(r) && Array.isArray(r.key_decisions) && r.key_decisions.some((d) => isRecord(d) && d.decision === record)
        : interactions <= 50 || erred > 0 || contextualType(Number(record.split('#')[1])) !== 'user_query'
          ? undefined
          : isRecord(r) && String(r.conversation_summary).includes(`\n- ${record}...\n`),
  },
};

/** A ContextualMemoryAgent agent's interaction `n`'s type: mostly queries, with responses and code (with metadata) among them, as the summary counts each. */
function contextualType(n: number): string {
  if (n % 9 === 2) return 'code';
  return n % 4 === 1 ? 'system_response' : 'user_query';
}

/** The AttributeError the deployed agent's loop answers for a bare `type` value (`.get("status")` called on it). */
const noGet = (r: unknown, type: string) => isRecord(r) && r.status === 'error' && r.message === `'${type}' object has no attribute 'get'`;

/** ContextualMemoryAgent as deployed: a write answered with the error its loop raises on bare true, a session without a snapshot on bare null. */
const AS_DEPLOYED_CONTEXTUAL: AgentProtocol = {
  ...PROTOCOL['contextual-memory'],
  written: (r) => noGet(r, 'bool'),
  answered: (r) => noGet(r, 'NoneType') || (isRecord(r) && r.status === undefined),
};
