/**
 * Dashboard sessions: the admin token given once on the login form buys a session cookie (random id, signed,
 * HttpOnly, SameSite=Strict) held in this process's memory for a working day.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

const SESSION_COOKIE = 'memshift_session';
const TTL_MS = 12 * 3_600_000;
/** Sessions held at once; the oldest go first beyond it (a login loop cannot grow memory). */
const MAX_SESSIONS = 1_000;

export class Sessions {
  private readonly live = new Map<string, { expires: number; who: string }>();

  constructor(private readonly token: string) {}

  /** Compared as digests so neither length nor content leaks through timing. */
  tokenMatches(given: unknown): boolean {
    if (typeof given !== 'string') return false;
    const digest = (s: string) => createHash('sha256').update(s).digest();
    return timingSafeEqual(digest(given), digest(this.token));
  }

  /** A new session for `who`; sets its cookie on the reply. */
  open(reply: FastifyReply, who: string): void {
    const id = randomBytes(24).toString('base64url');
    if (this.live.size >= MAX_SESSIONS) this.live.delete(this.live.keys().next().value!);
    this.live.set(id, { expires: Date.now() + TTL_MS, who });
    reply.setCookie(SESSION_COOKIE, id, { signed: true, httpOnly: true, sameSite: 'strict', path: '/', maxAge: TTL_MS / 1000 });
  }

  close(req: FastifyRequest, reply: FastifyReply): void {
    const id = this.idOf(req);
    if (id) this.live.delete(id);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
  }

  /** Who the request's session belongs to; undefined without a valid, unexpired session. */
  whoIs(req: FastifyRequest): string | undefined {
    const id = this.idOf(req);
    const s = id ? this.live.get(id) : undefined;
    if (!s) return undefined;
    if (s.expires < Date.now()) {
      this.live.delete(id!);
      return undefined;
    }
    return s.who;
  }

  private idOf(req: FastifyRequest): string | undefined {
    const raw = req.cookies[SESSION_COOKIE];
    if (!raw) return undefined;
    const u = req.unsignCookie(raw);
    return u.valid && u.value ? u.value : undefined;
  }
}
