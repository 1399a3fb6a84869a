/**
 * The Kubernetes overlays rendered offline with `kubectl kustomize` (Debian's kubectl): the standalone
 * Deployment with replicas, a Service, a PodDisruptionBudget and a HorizontalPodAutoscaler; the sidecar beside
 * an agent whose endpoints point at localhost; both with readiness, a preStop and a grace period that drains.
 */
import { execFileSync } from 'node:child_process';
import { expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config.js';
import { SIM_PORTS, SIM_SERVICES } from '../../src/tools/sim/services.js';

type Doc = { kind: string; metadata: { name: string }; spec: Record<string, any> };
const render = (overlay: string): Doc[] =>
  parseAllDocuments(
    execFileSync('kubectl', ['kustomize', `deploy/kubernetes/overlays/${overlay}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }),
  ).map((d) => d.toJSON() as Doc);
const kinds = (docs: Doc[]) => docs.map((d) => d.kind).sort();

function expectDrainingPod(docs: Doc[]): any {
  const pod = docs.find((d) => d.kind === 'Deployment')!.spec.template.spec;
  const memshift = pod.containers.find((c: any) => c.name === 'memshift');
  expect(memshift.readinessProbe.httpGet.path).toBe('/readyz');
  expect(memshift.lifecycle.preStop.exec.command).toEqual(['sleep', '5']);
  const config = parse((docs.find((d) => d.kind === 'ConfigMap') as any).data['memshift.yaml']);
  expect(config.shutdown.drainMs).toBeGreaterThan(0);
  // Room for the preStop, the drain window, calls in hand bounded by their leg timeout, and a margin.
  expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(5 + config.shutdown.drainMs / 1000 + config.orchestrator.timeoutMs / 1000 + 10);
  expect(memshift.args).toEqual(['serve', '--config', '/etc/memshift/memshift.yaml']);
  return pod;
}

it('standalone: replicas behind a Service, a disruption budget and an autoscaler on the same Deployment', () => {
  const docs = render('standalone');
  expect(kinds(docs)).toEqual(['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Service']);
  const deployment = docs.find((d) => d.kind === 'Deployment')!;
  expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
  expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
  expectDrainingPod(docs);
  const hpa = docs.find((d) => d.kind === 'HorizontalPodAutoscaler')!;
  expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: deployment.metadata.name });
  expect(hpa.spec.minReplicas).toBe(deployment.spec.replicas);
  const pdb = docs.find((d) => d.kind === 'PodDisruptionBudget')!;
  expect(pdb.spec.selector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
  const service = docs.find((d) => d.kind === 'Service')!;
  expect(service.spec.ports.map((p: any) => p.port).sort()).toEqual([8080, ...SIM_SERVICES.map((s) => SIM_PORTS[s] + 10_000)].sort());
});

it("sidecar: memshift in the agent's pod, the agent's endpoints on localhost, no Service", () => {
  const docs = render('sidecar');
  expect(kinds(docs)).toEqual(['ConfigMap', 'Deployment']);
  const pod = expectDrainingPod(docs);
  expect(pod.containers.map((c: any) => c.name).sort()).toEqual(['agent', 'memshift']);
  const agent = pod.containers.find((c: any) => c.name === 'agent');
  expect(agent.env.map((e: any) => e.value).sort()).toEqual(SIM_SERVICES.map((s) => `tcp://127.0.0.1:${SIM_PORTS[s] + 10_000}`).sort());
  // The renamed ConfigMap is still the one the pod mounts.
  const config = docs.find((d) => d.kind === 'ConfigMap')!;
  expect(pod.volumes.find((v: any) => v.name === 'config').configMap.name).toBe(config.metadata.name);
});

/**
 * The restricted Pod Security Standard's rules for a container (kubernetes.io/docs/concepts/security/pod-security-standards),
 * so a namespace that enforces it admits memshift: and with its root read-only, a writable emptyDir wherever it writes.
 */
function expectRestricted(pod: any): void {
  const memshift = pod.containers.find((c: any) => c.name === 'memshift');
  const sc = { ...pod.securityContext, ...memshift.securityContext };
  expect(sc.runAsNonRoot).toBe(true);
  expect(sc.runAsUser).not.toBe(0);
  expect(sc.privileged ?? false).toBe(false);
  expect(sc.allowPrivilegeEscalation).toBe(false);
  expect(sc.capabilities.drop).toContain('ALL');
  expect((sc.capabilities.add ?? []).filter((c: string) => c !== 'NET_BIND_SERVICE')).toEqual([]);
  expect(['RuntimeDefault', 'Localhost']).toContain(sc.seccompProfile.type);
  expect(pod.hostNetwork ?? false).toBe(false);
  expect(memshift.ports.every((p: any) => p.hostPort === undefined)).toBe(true);
  const allowed = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'];
  for (const v of pod.volumes)
    expect(
      Object.keys(v).filter((k) => k !== 'name'),
      v.name,
    ).toEqual([expect.toBeOneOf(allowed)]);
  expect(sc.readOnlyRootFilesystem).toBe(true);
  const volume = (path: string) => pod.volumes.find((v: any) => v.name === memshift.volumeMounts.find((m: any) => m.mountPath === path)?.name);
  for (const path of ['/app/.memshift', '/tmp']) expect(volume(path)?.emptyDir, path).toBeDefined();
}

it('meets the restricted Pod Security Standard in both placements, its root read-only', () => {
  for (const overlay of ['standalone', 'sidecar']) expectRestricted(render(overlay).find((d) => d.kind === 'Deployment')!.spec.template.spec);
});

it('every variable the Deployment sets is one memshift reads, each secret from memshift-secrets, the chat webhooks a list', () => {
  const memshift = render('standalone')
    .find((d) => d.kind === 'Deployment')!
    .spec.template.spec.containers.find((c: any) => c.name === 'memshift');
  const env = memshift.env as { name: string; value?: string; valueFrom?: { secretKeyRef: { name: string; key: string } } }[];
  expect(env.find((e) => e.name === 'MEMSHIFT_GUARD_WEBHOOKS')?.valueFrom?.secretKeyRef).toMatchObject({
    name: 'memshift-secrets',
    key: 'guard-webhooks',
    optional: true,
  });
  // A value for each, as its Secret would hold it: the config it loads differs from the one without.
  const sample: Record<string, string> = {
    DATABASE_URL: 'postgres://memshift@db.internal/memshift',
    UNLEASH_URL: 'https://unleash.internal/api',
    UNLEASH_API_TOKEN: 'default:production.abc',
    MEMSHIFT_ADMIN_TOKEN: 'admin-secret',
    MEMSHIFT_GUARD_WEBHOOKS: 'https://hooks.slack.com/services/T0/B0/SECRET1, https://chat.internal/hooks/SECRET2',
    MEMSHIFT_FLAGS_FILE: '/etc/memshift/flags.json',
  };
  const base = loadConfig({ env: {} });
  for (const { name, valueFrom } of env) {
    expect(sample[name], `${name}: no sample value here`).toBeDefined();
    expect(loadConfig({ env: { [name]: sample[name] } }), name).not.toEqual(base);
    if (valueFrom) expect(valueFrom.secretKeyRef.name, name).toBe('memshift-secrets');
  }
  expect(loadConfig({ env: { MEMSHIFT_GUARD_WEBHOOKS: sample.MEMSHIFT_GUARD_WEBHOOKS! } }).guard.webhooks).toEqual([
    'https://hooks.slack.com/services/T0/B0/SECRET1',
    'https://chat.internal/hooks/SECRET2',
  ]);
});
