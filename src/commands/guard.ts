/** `memshift guard resume <service>`: a person's go-ahead after the guard rolled a service back, sent to a running proxy. */
import { defineCommand } from './define.js';
import { adminRequest } from './admin-api.js';
import { rolledBack } from '../report/format.js';
import { movedNoReads, type GuardEvent } from '../guard/events.js';
import { isServiceName, serviceNames } from '../services/registry.js';

interface Resumed {
  was: 'watching' | 'tripped';
  lastEvent: GuardEvent | null;
  stage: string;
}

export const command = defineCommand(
  `Usage: memshift guard resume <service> [--proxy URL] [--token T]

After the guard rolled a service back it holds the service's reads on legacy, whatever the flags say, until a
person resumes it. Fix the cause first, then resume: the proxy (--proxy, default http://127.0.0.1:8080; --token its
admin token, default $MEMSHIFT_ADMIN_TOKEN) lets go of its rollback and watches the service again with an empty
window, and the flags decide its stage again; with guard.fleet on, every replica sharing its store follows within a
second. Prints what the guard held and the stage the flags now give the service.`,
  { proxy: { type: 'string', default: 'http://127.0.0.1:8080' }, token: { type: 'string' } },
  async ({ values, positionals }) => {
    const [sub, service] = positionals;
    if (sub !== 'resume') throw new Error(`unknown guard command "${sub ?? ''}": memshift guard resume <service>`);
    if (!service || !isServiceName(service)) throw new Error(`name a service: one of ${serviceNames().join(', ')}`);
    const r = await adminRequest<Resumed>(values.proxy, values.token, `/guard/${service}/resume`, 'POST');
    const e = r.lastEvent;
    const why = e ? ` since ${e.at} (${rolledBack(e)})` : '';
    const held =
      r.was !== 'tripped'
        ? 'the guard was not holding it back (watching): nothing to resume'
        : e && movedNoReads(e)
          ? `resumed: the guard had tripped${why}`
          : `resumed: the guard had held it back${why}`;
    process.stdout.write(
      `${service}: ${held}\n${service}: stage ${r.stage} as the flags say; the guard watches it${r.was === 'tripped' ? ' again' : ''} with an empty window\n`,
    );
  },
);
