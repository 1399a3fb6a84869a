/** `memshift serve`: runs the proxy with the given config until SIGINT, or SIGTERM and its drain. */
import { loadConfig } from '../config.js';
import { startProxy } from '../proxy.js';
import { shutdownTelemetry } from '../telemetry/index.js';
import { CONFIG_OPTIONS, defineCommand } from './define.js';
import { untilSignal } from './signals.js';

const usage = `Usage: memshift serve [--config FILE] [--set key.path=value ...]

Runs the proxy: a ZeroMQ front per legacy service and the HTTP front.
  --config FILE   configuration file (default config/memshift.yaml, or $MEMSHIFT_CONFIG)
  --set k=v       override one key, e.g. --set http.port=9090 (repeatable)`;

export const command = defineCommand(usage, CONFIG_OPTIONS, async ({ values }) => {
  const config = loadConfig({ path: values.config, set: values.set });
  // Listened for from the start: a signal while the proxy starts closes what it opened so far once the start is done
  // (Node's default exit left an embedded PostgreSQL server running, orphaned); a second one exits at once.
  let signal: NodeJS.Signals | undefined;
  const signalled = untilSignal().then((s) => (signal = s));
  const proxy = await startProxy(config);
  if (!signal) {
    process.stdout.write(
      `memshift serving\n${Object.entries(proxy.fronts)
        .map(([s, e]) => `  ${s.padEnd(18)} ${e}`)
        .join('\n')}\n  http               ${proxy.httpUrl}\n`,
    );
    // SIGTERM (Kubernetes, systemd) drains first; SIGINT (a terminal), or a second signal, goes straight to closing.
    if ((await signalled) === 'SIGTERM') await proxy.drain(config.shutdown.drainMs, untilSignal());
  }
  await proxy.close();
  // Telemetry is per process, not per proxy: pending OTLP exports go out before the process ends.
  await shutdownTelemetry();
});
