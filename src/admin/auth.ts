/**
 * The /admin plugin: every route under it needs `Authorization: Bearer <token>`; with no token
 * configured the plugin is not registered at all, so the routes answer 404 (off, not open).
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Adds routes to the admin plugin (paths relative to /admin); the auth hook already applies. */
export type AdminRoutes = (admin: FastifyInstance) => void | Promise<void>;

/** Compared as digests so neither the length nor the content leaks through timing. */
function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!m) return false;
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(m[1]!.trim()), digest(token));
}

/** A fastify onRequest hook answering 401 unless the request carries the token. */
export const requireBearer =
  (token: string) =>
  async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (bearerMatches(req.headers.authorization, token)) return;
    await reply.code(401).header('www-authenticate', 'Bearer realm="memshift"').send({ status: 'error', message: 'memshift: admin token required' });
  };

/**
 * Registers the admin plugin on `app` (loaded when the app starts); `routes` may come from several
 * parts (status, reports…), all behind the same hook.
 */
export function registerAdmin(app: FastifyInstance, token: string | undefined, routes: readonly AdminRoutes[]): void {
  if (!token) return;
  app.register(
    async (admin) => {
      admin.addHook('onRequest', requireBearer(token));
      // The front passes agent bodies through as raw bytes; admin bodies are JSON.
      admin.addContentTypeParser('application/json', { parseAs: 'string' }, admin.getDefaultJsonParser('error', 'ignore'));
      for (const add of routes) await add(admin);
    },
    { prefix: '/admin' },
  );
}
