/**
 * The simulators' HTTP control endpoint: read, change and reset faults, take targets down and up.
 * Every route needs the admin bearer token (default MEMSHIFT_ADMIN_TOKEN); without one they are off (404).
 */
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { requireBearer } from '../../admin/auth.js';
import { faultsPatchSchema, isSimTarget, type Faults, type FaultsPatch, type SimTarget } from './faults.js';

export interface FaultControl {
  getFaults(): Record<SimTarget, Faults>;
  applyFaults(target: SimTarget, patch: FaultsPatch): Promise<void>;
  resetFaults(): Promise<void>;
}

export async function startControl(
  control: FaultControl,
  host: string,
  port: number,
  token: string | undefined = process.env.MEMSHIFT_ADMIN_TOKEN || undefined,
): Promise<{ url: string; close(): Promise<void> }> {
  const app: FastifyInstance = Fastify({ logger: false });
  if (token) app.register(async (routes) => faultRoutes(routes.addHook('onRequest', requireBearer(token)), control));
  await app.listen({ host, port });
  const address = app.server.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return { url: `http://${urlHost}:${boundPort}`, close: () => app.close() };
}

function faultRoutes(app: FastifyInstance, control: FaultControl): void {
  const withTarget = async (raw: string, reply: FastifyReply, act: (t: SimTarget) => Promise<void>) => {
    if (!isSimTarget(raw)) return reply.code(404).send({ error: `unknown target "${raw}"` });
    await act(raw);
    return control.getFaults()[raw];
  };

  app.get('/faults', async () => control.getFaults());
  app.put<{ Params: { target: string } }>('/faults/:target', async (req, reply) => {
    const parsed = faultsPatchSchema.safeParse(req.body);
    if (!isSimTarget(req.params.target)) return reply.code(404).send({ error: `unknown target "${req.params.target}"` });
    if (!parsed.success) return reply.code(400).send({ error: parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ') });
    return withTarget(req.params.target, reply, (t) => control.applyFaults(t, parsed.data));
  });
  app.post<{ Params: { target: string } }>('/faults/:target/down', async (req, reply) =>
    withTarget(req.params.target, reply, (t) => control.applyFaults(t, { down: true })),
  );
  app.post<{ Params: { target: string } }>('/faults/:target/up', async (req, reply) =>
    withTarget(req.params.target, reply, (t) => control.applyFaults(t, { down: false })),
  );
  app.delete('/faults', async () => {
    await control.resetFaults();
    return control.getFaults();
  });
}
