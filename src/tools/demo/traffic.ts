/**
 * Plays voice-assistant agents against the fronts: each agent has its own sessions and user, and
 * talks to all three memory services the way the real agents do (REQ sockets, one request at a time).
 */
import * as zmq from 'zeromq';
import type { SimService as ServiceName } from '../sim/services.js';
import { pyDumps } from '../../util/pyjson.js';

export interface TrafficOptions {
  fronts: Partial<Record<ServiceName, string>>;
  agents: number;
  /** Stop after this many requests in all, or after durationMs, whichever comes first. */
  requests?: number;
  durationMs?: number;
  /** Distinguishes this run's keys from another's. */
  prefix: string;
  seed?: number;
  timeoutMs?: number;
  /** Lets the caller stop a run early (Ctrl-C in the demo). */
  signal?: AbortSignal;
  /** Appended to every text an agent writes (memory, interaction, decision): lets a test look for users' text at rest. */
  marker?: string;
}

export interface TrafficResult {
  sent: number;
  /** Replies that were memshift's own error (no reply from the primary, bad gateway). */
  errors: number;
  byService: Record<ServiceName, number>;
}

type Request = Record<string, unknown> & { action: string };

/** A small seeded generator, so a run can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SNIPPETS = [
  'def save(db):\n    db.execute("INSERT INTO notes VALUES (?)", (x,))  # database write',
  '@app.route("/api/notes")\ndef notes():\n    return http_response(list_notes())',
  'worker = threading.Thread(target=poll)\nworker.start()',
  'x = compute(42)\nprint(x)',
];
const QUERIES = [
  'what is on my calendar tomorrow?',
  'remind me to call mom at six',
  'play some jazz',
  'how far is the airport?',
  'summarise my last meeting notes in three bullet points please',
];
const REPLIES = ['You have two meetings tomorrow.', 'Reminder set for 18:00.', 'Playing jazz.', 'About 25 minutes by car.'];

/** One agent's next request for a service, given what it has done so far. */
class Agent {
  private session = 0;
  private sessionOpen = false;
  private readonly rand: () => number;

  constructor(
    private readonly id: string,
    seed: number,
    private readonly marker = '',
  ) {
    this.rand = prng(seed);
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rand() * xs.length)]!;
  }

  /** A text the agent writes: one of `xs`, with the run's marker. */
  private text(xs: readonly string[]): string {
    return this.pick(xs) + this.marker;
  }

  pickService(services: ServiceName[]): ServiceName {
    return this.pick(services);
  }

  next(service: ServiceName): Request {
    const r = this.rand();
    const sid = `${this.id}-s${this.session}`;
    switch (service) {
      case 'session-memory':
        if (!this.sessionOpen || r < 0.03) {
          if (this.sessionOpen) this.session++;
          this.sessionOpen = true;
          return { action: 'create_session', session_id: `${this.id}-s${this.session}`, user_id: this.id, metadata: { device: 'kitchen' } };
        }
        if (r < 0.5) {
          const user = this.rand() < 0.5;
          return {
            action: 'add_interaction',
            session_id: sid,
            role: user ? 'user' : 'assistant',
            content: this.text(user ? QUERIES : REPLIES),
            metadata: { tags: user ? ['voice'] : [] },
          };
        }
        if (r < 0.53) return { action: 'clear_session', session_id: sid };
        return { action: 'get_context', session_id: sid, max_tokens: this.pick([20, 50, 2000]) };
      case 'contextual-memory': {
        const csid = `${this.id}_project${this.session % 3}`;
        if (r < 0.25) return { action: 'add_interaction', session_id: csid, type: 'code', content: this.text(SNIPPETS) };
        if (r < 0.45) return { action: 'add_interaction', session_id: csid, type: this.pick(['user_query', 'system_response']), content: this.text(QUERIES) };
        if (r < 0.5)
          return {
            action: 'add_interaction',
            session_id: csid,
            type: 'error',
            content: this.text(['ValueError: bad input', 'Exception in thread main', 'warning only']),
          };
        if (r < 0.58) return { action: 'record_decision', session_id: csid, decision: this.text(['use postgres', 'ship on friday', 'add retries']) };
        return { action: 'get_context', session_id: csid, max_tokens: this.pick([100, 1000]) };
      }
      case 'jarvis-memory':
        if (r < 0.4) {
          const memory = this.rand() < 0.3 ? { type: 'reminder', text: this.text(QUERIES), at: '18:00' } : { type: 'preference', text: this.text(REPLIES) };
          return { action: 'add_memory', user_id: this.id, memory };
        }
        if (r < 0.43) return { action: 'clear_memories', user_id: this.id };
        return { action: 'get_memories', user_id: this.id };
    }
  }
}

export async function runTraffic(opts: TrafficOptions): Promise<TrafficResult> {
  const services = Object.keys(opts.fronts) as ServiceName[];
  const result: TrafficResult = { sent: 0, errors: 0, byService: { 'session-memory': 0, 'contextual-memory': 0, 'jarvis-memory': 0 } };
  const stopAt = opts.durationMs === undefined ? Infinity : Date.now() + opts.durationMs;
  const more = () => (opts.requests === undefined || result.sent < opts.requests) && Date.now() < stopAt && !opts.signal?.aborted;
  await Promise.all(
    Array.from({ length: opts.agents }, async (_, i) => {
      const agent = new Agent(`${opts.prefix}a${i}`, (opts.seed ?? 1) * 1000 + i, opts.marker);
      const sockets = new Map<ServiceName, zmq.Request>();
      const socketFor = (s: ServiceName) => {
        let sock = sockets.get(s);
        if (!sock) {
          sock = new zmq.Request({ linger: 0, receiveTimeout: opts.timeoutMs ?? 5000, sendTimeout: opts.timeoutMs ?? 5000 });
          sock.connect(opts.fronts[s]!);
          sockets.set(s, sock);
        }
        return sock;
      };
      try {
        while (more()) {
          const service = agent.pickService(services);
          result.sent++;
          result.byService[service]++;
          const sock = socketFor(service);
          try {
            await sock.send(pyDumps(agent.next(service)));
            const [reply] = await sock.receive();
            if (reply!.includes('memshift: ')) result.errors++;
          } catch {
            result.errors++;
            // A REQ socket that timed out is stuck in its lockstep: start a new one.
            sock.close();
            sockets.delete(service);
          }
        }
      } finally {
        for (const s of sockets.values()) s.close();
      }
    }),
  );
  return result;
}
