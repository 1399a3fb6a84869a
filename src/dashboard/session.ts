/**
 * Console sessions: the admin token given once on the login form buys a session cookie (who, and until when: a
 * working day) signed with a key drawn from the admin token, HttpOnly, SameSite=Strict. Nothing is held in the
 * process: every replica given the same token takes the cookie another made (a Service spreads the page's requests
 * over them), a restart logs no one out, and a new admin token ends every session.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

const SESSION_COOKIE = 'memshift_session';
const TTL_MS = 12 * 3_600_000;

export class Sessions {
  /** The key the console's cookies (the session's, the CSRF secret's) are signed with, the same on every replica. */
  readonly cookieSecret: string;

  constructor(private readonly token: string) {
    this.cookieSecret = createHash('sha256').update(`memshift console cookies\0${token}`).digest('hex');
  }

  /** Compared as digests so neither length nor content leaks through timing. */
  tokenMatches(given: unknown): boolean {
    if (typeof given !== 'string') return false;
    const digest = (s: string) => createHash('sha256').update(s).digest();
    return timingSafeEqual(digest(given), digest(this.token));
  }

  /** A session for `who`, as its cookie on the reply. */
  open(reply: FastifyReply, who: string): void {
    const value = `${Date.now() + TTL_MS}.${Buffer.from(who).toString('base64url')}`;
    reply.setCookie(SESSION_COOKIE, value, { signed: true, httpOnly: true, sameSite: 'strict', path: '/', maxAge: TTL_MS / 1000 });
  }

  close(reply: FastifyReply): void {
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
  }

  /** Who the request's session belongs to; undefined without a cookie signed with this token's key, or past its day. */
  whoIs(req: FastifyRequest): string | undefined {
    const raw = req.cookies[SESSION_COOKIE];
    const u = raw ? req.unsignCookie(raw) : undefined;
    if (!u?.valid || !u.value) return undefined;
    const [until, who] = u.value.split('.');
    return Number(until) > Date.now() && who ? Buffer.from(who, 'base64url').toString() : undefined;
  }
}
