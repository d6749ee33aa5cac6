// The kustomize base deploy/kubernetes/, rendered by a real kubectl (`kubectl kustomize`, the
// binary of test/deploy/kube-tools.ts) and validated offline against the Kubernetes OpenAPI
// schemas (./kubernetes-schema.ts). Its Envoy config is generated from its processor config
// (byte for byte what `codex-affinity envoy-config` prints) and valid against Envoy's protos;
// the pod is wired to both; Envoy's preStop drain script is run for real against an admin
// stand-in.
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { envoyBootstrapYaml } from '../../src/envoy/bootstrap.js';
import { validateBootstrap } from './envoy-validator.js';
import { kubectl, kubectlVersion, REPO } from './kube-tools.js';
import { schemaErrors, typeErrors } from './kubernetes-schema.js';
import { runPreStop, scriptParameters } from './prestop.js';

type Json = any; // parsed YAML, walked freely in the assertions
const DIR = path.join(REPO, 'deploy/kubernetes');
const read = (file: string) => fs.readFileSync(path.join(DIR, file), 'utf8');
const docsOf = (text: string): Json[] => parseAllDocuments(text).map((d) => {
  if (d.errors.length > 0) throw d.errors[0];
  return d.toJS();
}).filter((d) => d !== null);

const CONFIG: Config = parseConfig(parse(read('config.yaml')));
let RENDERED: Json[] = [];
const ofKind = (kind: string): Json => {
  const found = RENDERED.filter((r) => r.kind === kind);
  expect(found, kind).toHaveLength(1);
  return found[0];
};
const pod = (): Json => ofKind('Deployment').spec.template;
const container = (name: string): Json => pod().spec.containers.find((c: Json) => c.name === name);
const portOf = (c: Json, port: string | number): number | undefined =>
  typeof port === 'number' ? port : c.ports?.find((p: Json) => p.name === port)?.containerPort;
const argAfter = (args: string[], flag: string) => args[args.indexOf(flag) + 1];
const includes = (labels: Record<string, string>, subset: Record<string, string>) =>
  Object.keys(subset).length > 0 && Object.entries(subset).every(([k, v]) => labels[k] === v);
/** The file a container sees at `file`, as [ConfigMap name, key], through its volume mounts. */
function mountedConfigMap(c: Json, file: string): [string, string] | undefined {
  const mount = c.volumeMounts.find((m: Json) => path.dirname(file) === m.mountPath);
  const volume = mount && pod().spec.volumes.find((v: Json) => v.name === mount.name);
  return volume?.configMap ? [volume.configMap.name, path.basename(file)] : undefined;
}
const configMap = (prefix: string): Json => RENDERED.find((d) => d.kind === 'ConfigMap' && d.metadata.name.startsWith(`${prefix}-`));

beforeAll(() => {
  const result = kubectl(['kustomize', DIR]);
  expect(result.status, result.stderr).toBe(0);
  RENDERED = docsOf(result.stdout);
});

describe(`deploy/kubernetes rendered by kubectl kustomize (${kubectlVersion()})`, () => {
  it('renders every file of the folder, each object of the expected kind', () => {
    const kustomization = parse(read('kustomization.yaml'));
    const listed = [...kustomization.resources, ...kustomization.configMapGenerator.flatMap((g: Json) => g.files), 'kustomization.yaml'];
    expect(listed.sort()).toEqual(fs.readdirSync(DIR).sort());
    expect(RENDERED.map((r) => `${r.apiVersion} ${r.kind}`).sort()).toEqual([
      'apps/v1 Deployment', 'networking.k8s.io/v1 NetworkPolicy', 'policy/v1 PodDisruptionBudget', 'v1 ConfigMap', 'v1 ConfigMap', 'v1 Service', 'v1 ServiceAccount']);
  });

  it('every object is valid against the Kubernetes OpenAPI schemas: types, formats, no unknown field', async () => {
    const objects = RENDERED.map((object) => ({ source: 'deploy/kubernetes', object }));
    expect(await schemaErrors(objects)).toEqual([]);
    expect(typeErrors(objects)).toEqual([]);
  });

  it('the validation refuses a misspelt field, a misplaced one and a wrong type', async () => {
    const deployment = structuredClone(ofKind('Deployment'));
    deployment.spec.template.spec.containers[0].imagePullPolicyy = 'Always';
    const service = structuredClone(ofKind('Service'));
    service.spec.ports[0].containerPort = 10000; // belongs to a container, not a Service port
    const policy = structuredClone(ofKind('NetworkPolicy'));
    policy.spec.ingress[0].ports[0].protocol = 7;
    const objects = [deployment, service, policy].map((object) => ({ source: 'broken', object }));
    const errors = typeErrors(objects);
    expect(errors).toHaveLength(3);
    expect(errors[0]).toMatch(/^broken Deployment\/codex-affinity: .*'"imagePullPolicyy"' does not exist/);
    expect(errors[1]).toMatch(/^broken Service\/codex-affinity: .*'"containerPort"' does not exist/);
    expect(errors[2]).toMatch(/^broken NetworkPolicy\/codex-affinity: .*not assignable/);
    expect(await schemaErrors(objects)).toEqual([expect.stringMatching(/^broken NetworkPolicy\/codex-affinity: .*protocol must be string/)]);
  });
});

describe('deploy/kubernetes: the two configs', () => {
  it('the processor config is what the pod needs: loopback gRPC, admin on the pod, drain after Envoy', () => {
    expect(CONFIG.grpc).toEqual({ host: '127.0.0.1', port: 50051, maxOpenStreams: 0, streamWindowBytes: 1024 * 1024, connectionWindowBytes: 16 * 1024 * 1024 });
    expect(CONFIG.http).toEqual({ host: '0.0.0.0', port: 9464 });
    expect(CONFIG.shutdown.envoyAdmin).toBe(`127.0.0.1:${CONFIG.envoy.adminPort}`);
    expect(CONFIG.store.kind).toBe('memory');
  });

  it('envoy.yaml is exactly what `codex-affinity envoy-config` prints for config.yaml, and a valid Bootstrap', () => {
    expect(read('envoy.yaml'), 'regenerate: codex-affinity envoy-config --config deploy/kubernetes/config.yaml > deploy/kubernetes/envoy.yaml')
      .toBe(envoyBootstrapYaml(CONFIG, 'deploy/kubernetes/config.yaml'));
    expect(validateBootstrap(parse(read('envoy.yaml')))).toEqual({ errors: [], jsonNames: [] });
  });

  it('both become ConfigMaps with hashed names that the pod mounts where the containers read them', () => {
    for (const [prefix, file, name, flag] of [['codex-affinity-envoy', 'envoy.yaml', 'envoy', '-c'], ['codex-affinity-config', 'config.yaml', 'codex-affinity', '--config']] as const) {
      const map = configMap(prefix);
      expect(map.metadata.name).toMatch(new RegExp(`^${prefix}-[a-z0-9]{10}$`));
      expect(map.data).toEqual({ [file]: read(file) });
      expect(mountedConfigMap(container(name), argAfter(container(name).args, flag)!)).toEqual([map.metadata.name, file]);
    }
  });
});

describe('deploy/kubernetes: the pod', () => {
  it('probes: Envoy\'s /ready and the processor\'s gRPC health through Envoy\'s readiness listener, the processor\'s /healthz', () => {
    const envoy = container('envoy');
    const processor = container('codex-affinity');
    expect(envoy.readinessProbe.httpGet.path).toBe('/ready');
    expect(portOf(envoy, envoy.readinessProbe.httpGet.port)).toBe(CONFIG.envoy.readinessPort);
    expect(portOf(envoy, envoy.livenessProbe.tcpSocket.port)).toBe(CONFIG.envoy.listenerPort);
    expect(processor.readinessProbe.grpc).toEqual({ port: CONFIG.envoy.readinessPort, service: 'envoy.service.ext_proc.v3.ExternalProcessor' });
    const readinessRoutes = parse(read('envoy.yaml')).static_resources.listeners.find((l: Json) => l.name === 'envoy_readiness')
      .filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes;
    expect(readinessRoutes.find((r: Json) => r.match.path === '/grpc.health.v1.Health/Check').route.cluster).toBe('codex-affinity');
    expect(processor.livenessProbe.httpGet.path).toBe('/healthz');
    expect(portOf(processor, processor.livenessProbe.httpGet.port)).toBe(CONFIG.http.port);
    const containerPorts = pod().spec.containers.flatMap((c: Json) => (c.ports ?? []).map((p: Json) => p.containerPort));
    expect(containerPorts).not.toContain(CONFIG.grpc.port); // loopback only
  });

  it('shutdown: Envoy drains first and waits for its requests; the processor has no preStop and outlasts it; all inside the grace period', () => {
    const envoy = container('envoy');
    const processor = container('codex-affinity');
    expect(processor.lifecycle?.preStop).toBeUndefined(); // SIGTERM at once: it keeps serving (src/shutdown/drain.ts)
    const [shell, flag, script] = envoy.lifecycle.preStop.exec.command as string[];
    expect([shell, flag]).toEqual(['/bin/bash', '-c']);
    const { adminPort, settleSeconds, longestTurnSeconds } = scriptParameters(script!);
    expect(adminPort).toBe(CONFIG.envoy.adminPort);
    expect(settleSeconds).toBe(Number(argAfter(envoy.args, '--drain-time-s')));
    const processorGrace = CONFIG.shutdown.grace / 1000;
    expect(processorGrace).toBeGreaterThan(settleSeconds + longestTurnSeconds);
    expect(pod().spec.terminationGracePeriodSeconds).toBeGreaterThan(processorGrace);
    expect(longestTurnSeconds).toBeGreaterThanOrEqual(CONFIG.envoy.streamIdleTimeout / 1000); // a turn idle for longer is cut by Envoy anyway
  });

  it('the drain script drains, then waits until Envoy reports no request, and not longer', async () => {
    const script = container('envoy').lifecycle.preStop.exec.command[2];
    const waits = await runPreStop(script, (read) => [3, 1, 0][read] ?? 0);
    expect(waits.stderr).toBe('');
    expect(waits.exitCode).toBe(0);
    expect(waits.requests).toEqual(['POST /drain_listeners?graceful', ...Array(3).fill('GET /stats?filter=downstream_rq_active')]);
    expect(waits.milliseconds).toBeLessThan(2_500);
  });

  it('the drain script gives up at its deadline while requests stay open, and stops at once when Envoy is gone', async () => {
    // bash's SECONDS counts whole seconds: a deadline of 2 s ends after 1 to 2 s.
    const stuck = await runPreStop(container('envoy').lifecycle.preStop.exec.command[2], () => 2, 2);
    expect(stuck.exitCode).toBe(0);
    expect(stuck.milliseconds).toBeGreaterThanOrEqual(900);
    expect(stuck.milliseconds).toBeLessThan(4_000);
    expect(stuck.requests.length).toBeGreaterThan(3);
    const gone = await runPreStop(container('envoy').lifecycle.preStop.exec.command[2], () => undefined);
    expect(gone.requests).toEqual(['POST /drain_listeners?graceful', 'GET /stats?filter=downstream_rq_active']);
    expect(gone.milliseconds).toBeLessThan(2_000);
  });

  it('non-root, read-only root filesystems, no capabilities, bounded resources, no API token', () => {
    expect(pod().spec.securityContext).toMatchObject({ runAsNonRoot: true, fsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } });
    for (const c of pod().spec.containers) {
      expect(c.securityContext, c.name).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      for (const kind of ['requests', 'limits']) expect(Object.keys(c.resources[kind]).sort(), `${c.name} ${kind}`).toEqual(['cpu', 'memory']);
    }
    expect(pod().spec.automountServiceAccountToken).toBe(false);
    expect(pod().spec.serviceAccountName).toBe(ofKind('ServiceAccount').metadata.name);
  });

  it('credentials come from a Secret mounted read-only into the processor only', () => {
    const volume = pod().spec.volumes.find((v: Json) => v.secret);
    expect(volume.secret).toMatchObject({ secretName: 'codex-affinity-secrets', optional: true, defaultMode: 0o440 });
    expect(container('codex-affinity').volumeMounts).toContainEqual({ name: volume.name, mountPath: '/var/run/secrets/codex-affinity', readOnly: true });
    expect(container('envoy').volumeMounts.map((m: Json) => m.name)).not.toContain(volume.name);
    expect(RENDERED.filter((r) => r.kind === 'Secret')).toEqual([]); // never in the repository
  });

  it('one replica with the memory store; rollouts add the new pod before the old one drains', () => {
    expect(ofKind('Deployment').spec.replicas).toBe(1);
    expect(ofKind('Deployment').spec.strategy.rollingUpdate).toEqual({ maxSurge: 1, maxUnavailable: 0 });
    expect(ofKind('PodDisruptionBudget').spec.maxUnavailable).toBe(1);
  });

  it('the Service reaches Envoy; the NetworkPolicy lets clients reach Envoy and only Prometheus the metrics port', () => {
    const labels = pod().metadata.labels;
    for (const selector of [ofKind('Deployment').spec.selector.matchLabels, ofKind('Service').spec.selector, ofKind('PodDisruptionBudget').spec.selector.matchLabels, ofKind('NetworkPolicy').spec.podSelector.matchLabels]) {
      expect(includes(labels, selector)).toBe(true);
    }
    expect(portOf(container('envoy'), ofKind('Service').spec.ports[0].targetPort)).toBe(CONFIG.envoy.listenerPort);
    const policy = ofKind('NetworkPolicy');
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
    const rules: Json[] = policy.spec.ingress;
    const portsOf = (rule: Json) => rule.ports.map((p: Json) => portOf(container('envoy'), p.port) ?? portOf(container('codex-affinity'), p.port));
    expect(rules.map(portsOf)).toEqual([[CONFIG.envoy.listenerPort], [CONFIG.http.port]]);
    expect(rules[1].from).toHaveLength(1);
    expect(rules[1].from[0].podSelector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'prometheus' });
  });
});

describe('deploy/kubernetes-redis: the base with the Redis store and an autoscaler', () => {
  const OVERLAY = path.join(REPO, 'deploy/kubernetes-redis');
  const readOverlay = (file: string) => fs.readFileSync(path.join(OVERLAY, file), 'utf8');
  const overlayConfig = parseConfig(parse(readOverlay('config.yaml')));
  let objects: Json[] = [];
  beforeAll(() => {
    const result = kubectl(['kustomize', OVERLAY]);
    expect(result.status, result.stderr).toBe(0);
    objects = docsOf(result.stdout);
  });

  it('renders, valid against the Kubernetes schemas, with the autoscaler owning the replica count', async () => {
    const list = objects.map((object) => ({ source: 'deploy/kubernetes-redis', object }));
    expect(await schemaErrors(list)).toEqual([]);
    expect(typeErrors(list)).toEqual([]);
    const deployment = objects.find((o) => o.kind === 'Deployment');
    expect(deployment.spec.replicas).toBeUndefined();
    const autoscaler = objects.find((o) => o.kind === 'HorizontalPodAutoscaler');
    expect(autoscaler.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
    expect(autoscaler.spec.minReplicas).toBeGreaterThan(1);
  });

  it('its configs replace the base\'s: Redis with the HMAC secret from the mounted Secret; Envoy generated from it', () => {
    expect(overlayConfig.store).toMatchObject({ kind: 'redis', hmacSecret: { file: '/var/run/secrets/codex-affinity/hmac' } });
    expect(readOverlay('envoy.yaml')).toBe(envoyBootstrapYaml(overlayConfig, 'deploy/kubernetes-redis/config.yaml'));
    const maps = objects.filter((o) => o.kind === 'ConfigMap');
    expect(maps).toHaveLength(2);
    expect(maps.find((m) => m.data['config.yaml'] !== undefined).data['config.yaml']).toBe(readOverlay('config.yaml'));
    expect(maps.find((m) => m.data['envoy.yaml'] !== undefined).data['envoy.yaml']).toBe(readOverlay('envoy.yaml'));
    // Only the store differs from the base: same accounts, ports and shutdown.
    const { store: _overlayStore, ...overlayRest } = overlayConfig;
    const { store: _baseStore, ...baseRest } = CONFIG;
    expect(overlayRest).toEqual(baseRest);
  });
});
