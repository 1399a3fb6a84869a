/**
 * The operator's console on the proxy's HTTP port: GET / (a login form, then the live page), its assets, and
 * /ui/api: every admin route (status, events, reports...) behind a session cookie instead of the bearer
 * token, the live overview, the rollout controls and the outbox retry, writes guarded against cross-site
 * requests. Without an admin token configured none of it is registered (404), as /admin.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fastifyCookie from '@fastify/cookie';
import fastifyCsrf from '@fastify/csrf-protection';
import type { AdminRoutes } from '../admin/auth.js';
import { serviceConfigOf, type Config } from '../config.js';
import type { Flags } from '../flags/source.js';
import type { Control } from '../flags/controls.js';
import { gatherReport, utcDate } from '../report/data.js';
import type { Store } from '../store/index.js';
import { OutboxTable } from '../outbox/table.js';
import { serviceNames } from '../services/registry.js';
import { controlSchema, flagTargetOf, OperatorActions } from './actions.js';
import { Sessions } from './session.js';
import { dashboardPage, loginPage } from './page.js';

export interface DashboardDeps {
  config: Config;
  store: Store;
  flags: Flags;
  /** The admin routes, served again under /ui/api for the page. */
  routes: readonly AdminRoutes[];
}

const require = createRequire(import.meta.url);
/** The page's files: its own script and style, and uPlot (served from here: the page fetches nothing elsewhere). */
const ASSETS: Record<string, { file: string; type: string }> = {
  'app.js': { file: new URL('./assets/app.js', import.meta.url).pathname, type: 'text/javascript; charset=utf-8' },
  'views.js': { file: new URL('./assets/views.js', import.meta.url).pathname, type: 'text/javascript; charset=utf-8' },
  'app.css': { file: new URL('./assets/app.css', import.meta.url).pathname, type: 'text/css; charset=utf-8' },
  'uPlot.js': { file: require.resolve('uplot/dist/uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  'uPlot.css': { file: require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

/** Nothing but this origin: scripts, styles, images and fetches. */
const CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'";

export function registerDashboard(app: FastifyInstance, token: string | undefined, deps: DashboardDeps): void {
  if (!token) return;
  const sessions = new Sessions(token);
  const actions = new OperatorActions(deps.store.pool, () => flagTargetOf(deps.config, deps.flags));
  const outbox = new OutboxTable(deps.store.pool);
  app.register(async (ui) => {
    // Signed with a key drawn from the admin token: every replica given it takes the cookies another set.
    await ui.register(fastifyCookie, { secret: sessions.cookieSecret });
    await ui.register(fastifyCsrf, { cookieOpts: { signed: true, httpOnly: true, sameSite: 'strict', path: '/' }, getToken: (req) => csrfHeader(req) });
    ui.addContentTypeParser('application/json', { parseAs: 'string' }, ui.getDefaultJsonParser('error', 'ignore'));
    ui.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) =>
      done(null, Object.fromEntries(new URLSearchParams(body as string))),
    );
    ui.addHook('onSend', async (_req, reply) => {
      reply.header('content-security-policy', CSP).header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer');
    });

    ui.get('/', async (req, reply) => reply.type('text/html; charset=utf-8').send(sessions.whoIs(req) ? dashboardPage() : loginPage()));
    ui.post<{ Body: { token?: unknown } }>('/login', async (req, reply) => {
      if (!sessions.tokenMatches(req.body?.token)) return reply.code(401).type('text/html; charset=utf-8').send(loginPage('That is not the admin token.'));
      sessions.open(reply, `operator@${req.ip}`);
      return reply.redirect('./', 303);
    });
    ui.post('/logout', async (_req, reply) => {
      sessions.close(reply);
      return reply.redirect('./', 303);
    });
    ui.get<{ Params: { name: string } }>('/ui/assets/:name', async (req, reply) => {
      const a = Object.hasOwn(ASSETS, req.params.name) ? ASSETS[req.params.name]! : undefined;
      if (!a) return reply.code(404).send({ status: 'error', message: 'memshift: no such asset' });
      return reply
        .type(a.type)
        .header('cache-control', 'no-cache')
        .send(await readFile(a.file));
    });

    await ui.register(
      async (api) => {
        api.addHook('onRequest', async (req, reply) => {
          if (!sessions.whoIs(req)) return reply.code(401).send({ status: 'error', message: 'memshift: log in first' });
        });
        // Every write needs the page's CSRF token in a header: a form posted from another site carries none.
        api.addHook('onRequest', (req, reply, done) => (req.method === 'GET' || req.method === 'HEAD' ? done() : ui.csrfProtection(req, reply, done)));
        for (const add of deps.routes) await add(api);
        api.get('/session', async (req, reply) => ({ who: sessions.whoIs(req), csrf: reply.generateCsrf() }));
        api.get('/overview', async () => overview(deps, actions, outbox));
        api.post<{ Body: unknown }>('/control', async (req, reply) => {
          const parsed = controlSchema.safeParse(req.body);
          if (!parsed.success)
            return reply.code(400).send({ status: 'error', message: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') });
          try {
            return { status: 'ok', action: await actions.act(parsed.data as Control, sessions.whoIs(req)!) };
          } catch (err) {
            return reply.code(409).send({ status: 'error', message: (err as Error).message });
          }
        });
        api.post<{ Body: { service?: unknown } }>('/outbox/retry', async (req) => {
          const service = typeof req.body?.service === 'string' ? req.body.service : undefined;
          return { status: 'ok', retried: await outbox.retry(service ? { service } : {}) };
        });
      },
      { prefix: '/ui/api' },
    );
  });
}

function csrfHeader(req: FastifyRequest): string | undefined {
  const h = req.headers['x-csrf-token'];
  return typeof h === 'string' ? h : undefined;
}

/** What the page shows besides /status: today's report data (figures, series, samples, runs, guard events), actions, parked writes. */
async function overview(deps: DashboardDeps, actions: OperatorActions, outbox: OutboxTable) {
  const services = serviceNames().filter((s) => serviceConfigOf(deps.config, s).enabled);
  const [report, recent, parked] = await Promise.all([
    gatherReport({ date: utcDate(new Date()), config: deps.config, store: deps.store, flags: deps.flags, services }),
    actions.list(20),
    outbox.list({ statuses: ['dead'], limit: 50 }),
  ]);
  return {
    report,
    thresholds: { mismatchRate: deps.config.guard.mismatchRate, errorRate: deps.config.guard.errorRate, addedLatencyMs: deps.config.guard.addedLatencyMs },
    actions: recent,
    parked: parked.map((r) => ({ id: r.id, service: r.service, key: r.key, action: r.action, side: r.side, attempts: r.attempts, lastError: r.lastError })),
  };
}
