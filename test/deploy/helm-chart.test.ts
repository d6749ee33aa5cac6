// charts/codex-affinity rendered by a real helm (test/deploy/kube-tools.ts) for the default
// values and each documented variant (charts/codex-affinity/examples/): `helm lint --strict`
// (which also checks values against the chart's values.schema.json), every rendered object
// valid against the Kubernetes OpenAPI schemas (./kubernetes-schema.ts), the processor config
// accepted by the processor's own parser, and the Envoy config equal to what
// `codex-affinity envoy-config` makes of that processor config and valid against Envoy's protos.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { envoyBootstrap } from '../../src/envoy/bootstrap.js';
import { validateBootstrap } from './envoy-validator.js';
import { helm, helmVersion, REPO } from './kube-tools.js';
import { schemaErrors, typeErrors } from './kubernetes-schema.js';
import { runPreStop, scriptParameters } from './prestop.js';

type Json = any; // parsed YAML, walked freely in the assertions
const CHART = 'charts/codex-affinity';
const EXAMPLES = path.join(REPO, CHART, 'examples');
const VARIANTS: Record<string, string[]> = {
  default: [],
  ...Object.fromEntries(fs.readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml')).sort().map((f) => [f.replace(/\.yaml$/, ''), ['-f', path.join(EXAMPLES, f)]])),
};

interface Rendered { objects: Json[]; config: Config; envoy: Json }
function render(name: string, args: string[]): Rendered {
  const result = helm(['template', 'codex-affinity', CHART, '--namespace', 'ai', ...args]);
  expect(result.status, `${name}: ${result.stderr}`).toBe(0);
  const objects = parseAllDocuments(result.stdout).map((d) => d.toJS()).filter((d) => d !== null);
  const data = (key: string) => objects.find((o) => o.kind === 'ConfigMap' && o.data?.[key] !== undefined)?.data[key];
  return { objects, config: parseConfig(parse(data('config.yaml'))), envoy: parse(data('envoy.yaml')) };
}
const RENDERED = new Map(Object.entries(VARIANTS).map(([name, args]) => [name, render(name, args)]));
const variant = (name: string): Rendered => RENDERED.get(name)!;
const ofKind = (name: string, kind: string): Json[] => variant(name).objects.filter((o) => o.kind === kind);
const podOf = (name: string): Json => ofKind(name, 'Deployment')[0].spec.template;
const containerOf = (name: string, container: string): Json => podOf(name).spec.containers.find((c: Json) => c.name === container);
const failure = (args: string[]): string => {
  const result = helm(['template', 'codex-affinity', CHART, ...args]);
  expect(result.status).not.toBe(0);
  return result.stderr;
};

describe(`charts/codex-affinity with ${helmVersion()}`, () => {
  it('the documented variants are the examples folder', () => {
    expect(Object.keys(VARIANTS)).toEqual(['default', 'credentials', 'observability', 'pools', 'redis']);
  });

  it('Chart.yaml: a v2 application chart of this package\'s version', () => {
    const chart = parse(fs.readFileSync(path.join(REPO, CHART, 'Chart.yaml'), 'utf8'));
    expect(chart).toMatchObject({ apiVersion: 'v2', name: 'codex-affinity', type: 'application' });
    expect(chart.appVersion).toBe(JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')).version);
  });

  for (const [name, args] of Object.entries(VARIANTS)) {
    it(`${name}: helm lint --strict passes (values against values.schema.json included)`, () => {
      const result = helm(['lint', '--strict', CHART, ...args]);
      expect(result.status, result.stdout + result.stderr).toBe(0);
      expect(result.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
    });
  }

  it('every rendered object of every variant is valid against the Kubernetes OpenAPI schemas, no unknown field', async () => {
    const objects = [...RENDERED.entries()].flatMap(([name, { objects }]) => objects.map((object) => ({ source: name, object })));
    expect(objects.length).toBeGreaterThan(30);
    expect(await schemaErrors(objects)).toEqual([]);
    expect(typeErrors(objects)).toEqual([]);
  });

  for (const name of Object.keys(VARIANTS)) {
    it(`${name}: the Envoy config is what \`codex-affinity envoy-config\` makes of the processor config, and a valid Bootstrap`, () => {
      const { config, envoy } = variant(name);
      expect(envoy).toEqual(envoyBootstrap(config));
      expect(validateBootstrap(envoy)).toEqual({ errors: [], jsonNames: [] });
    });
  }

  it('the equivalence would catch a template that drifts from the generator', () => {
    const { config, envoy } = variant('pools');
    const drifted = structuredClone(envoy);
    drifted.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.mutations.request_mutations.pop();
    expect(drifted).not.toEqual(envoyBootstrap(config));
  });

  it('routing.storedObjectCalls: the stored-object routes by default, none when false, equal to the generator either way', () => {
    const routeNames = (envoy: Json): string[] => envoy.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes.map((r: Json) => r.name);
    expect(variant('default').config.routing.storedObjectCalls).toBe(true);
    expect(routeNames(variant('default').envoy)).toEqual(['responses_websocket', 'inference', 'create_conversation', 'stored_objects', 'default_chatgpt_codex', 'default']);
    const off = render('no-object-calls', ['--set', 'routing.storedObjectCalls=false']);
    expect(off.config.routing.storedObjectCalls).toBe(false);
    expect(off.envoy).toEqual(envoyBootstrap(off.config));
    expect(routeNames(off.envoy)).toEqual(['responses_websocket', 'inference', 'default_chatgpt_codex', 'default']);
  });
});

describe('charts/codex-affinity: what each variant renders', () => {
  it('default: one replica, memory store, no Secret, no autoscaler, loopback gRPC, drain after Envoy', () => {
    const { config, objects } = variant('default');
    expect(objects.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'ConfigMap', 'Deployment', 'NetworkPolicy', 'PodDisruptionBudget', 'Service', 'Service', 'ServiceAccount']);
    expect(ofKind('default', 'Deployment')[0].spec.replicas).toBe(1);
    expect(config.store.kind).toBe('memory');
    expect(config.grpc).toEqual({ host: '127.0.0.1', port: 50051, maxOpenStreams: 0, streamWindowBytes: 1024 * 1024, connectionWindowBytes: 16 * 1024 * 1024 });
    expect(config.shutdown.envoyAdmin).toBe('127.0.0.1:9901');
    expect(podOf('default').spec.volumes.map((v: Json) => v.name)).not.toContain('secrets');
    expect(config.accounts.every((account) => account.credential === undefined)).toBe(true); // clients' own keys pass through
  });

  it('redis: replicas from the autoscaler, the HMAC secret and keys from the existing Secret', () => {
    const { config } = variant('redis');
    expect(config.store).toMatchObject({ kind: 'redis', hmacSecret: { file: '/var/run/secrets/codex-affinity/hmac' } });
    const deployment = ofKind('redis', 'Deployment')[0];
    expect(deployment.spec.replicas).toBeUndefined(); // the autoscaler owns it
    const [autoscaler] = ofKind('redis', 'HorizontalPodAutoscaler');
    expect(autoscaler.spec).toMatchObject({ minReplicas: 3, maxReplicas: 10, scaleTargetRef: { kind: 'Deployment', name: deployment.metadata.name } });
    expect(ofKind('redis', 'Secret')).toEqual([]);
    expect(podOf('redis').spec.volumes.find((v: Json) => v.name === 'secrets').secret.secretName).toBe('codex-affinity-secrets');
    expect(containerOf('redis', 'codex-affinity').volumeMounts).toContainEqual({ name: 'secrets', mountPath: '/var/run/secrets/codex-affinity', readOnly: true });
  });

  it('credentials: the chart\'s own Secret, every credential file of the config is a key of it', () => {
    const { config } = variant('credentials');
    const [secret] = ofKind('credentials', 'Secret');
    const files = config.accounts.flatMap((a) => (a.credential === undefined ? [] : 'apiKey' in a.credential ? [a.credential.apiKey] : [a.credential.chatgpt.accessToken, a.credential.chatgpt.accountId]));
    for (const source of files) {
      expect('file' in source && source.file.startsWith('/var/run/secrets/codex-affinity/')).toBe(true);
      expect(Object.keys(secret.stringData)).toContain(path.basename((source as { file: string }).file));
    }
    expect(podOf('credentials').spec.volumes.find((v: Json) => v.name === 'secrets').secret.secretName).toBe(secret.metadata.name);
    // The private upstream: plain HTTP to its own host.
    const local = variant('credentials').envoy.static_resources.clusters.find((c: Json) => c.name === 'local-llm');
    expect(local.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address).toEqual({ address: 'llm.inference.svc', port_value: 8080 });
    expect(local.transport_socket).toBeUndefined();
  });

  it('pools: clients cannot send the pool or principal header; the retry guard gets its x-envoy mutations', () => {
    const { config, envoy } = variant('pools');
    expect(config.pools?.map((p) => p.name)).toEqual(['default', 'team-b']);
    const hcm = envoy.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
    const removed = hcm.http_filters[0].typed_config.mutations.request_mutations.map((m: Json) => m.remove);
    expect(removed.slice(0, 3)).toEqual(['x-codex-affinity-cluster', 'x-tenant-pool', 'x-tenant-principal']);
    expect(hcm.http_filters[1].typed_config.mutation_rules).toEqual({ allow_envoy: true });
  });

  for (const name of Object.keys(VARIANTS)) {
    it(`${name}: shutdown timing: Envoy drains and waits for the longest turn, the processor outlasts it, the pod\'s grace period covers both`, () => {
      const { config } = variant(name);
      const envoy = containerOf(name, 'envoy');
      expect(containerOf(name, 'codex-affinity').lifecycle).toBeUndefined();
      const { adminPort, settleSeconds, longestTurnSeconds } = scriptParameters(envoy.lifecycle.preStop.exec.command[2]);
      expect(adminPort).toBe(config.envoy.adminPort);
      expect(`127.0.0.1:${adminPort}`).toBe(config.shutdown.envoyAdmin);
      expect(String(settleSeconds)).toBe(envoy.args[envoy.args.indexOf('--drain-time-s') + 1]);
      expect(config.shutdown.grace / 1000).toBeGreaterThan(settleSeconds + longestTurnSeconds);
      expect(podOf(name).spec.terminationGracePeriodSeconds).toBeGreaterThan(config.shutdown.grace / 1000);
      expect(longestTurnSeconds).toBeGreaterThanOrEqual(config.envoy.streamIdleTimeout / 1000);
    });
  }

  it('the chart\'s drain script runs: drains, waits for the last request, stops', async () => {
    const run = await runPreStop(containerOf('default', 'envoy').lifecycle.preStop.exec.command[2], (read) => [1, 0][read] ?? 0);
    expect(run.stderr).toBe('');
    expect(run.requests).toEqual(['POST /drain_listeners?graceful', 'GET /stats?filter=downstream_rq_active', 'GET /stats?filter=downstream_rq_active']);
  });

  it('probes and ports: Envoy /ready and the processor\'s gRPC health on Envoy\'s readiness listener; the gRPC port is no container port', () => {
    const { config } = variant('default');
    const envoy = containerOf('default', 'envoy');
    expect(envoy.readinessProbe.httpGet).toEqual({ path: '/ready', port: 'ready' });
    expect(envoy.ports.find((p: Json) => p.name === 'ready').containerPort).toBe(config.envoy.readinessPort);
    const processor = containerOf('default', 'codex-affinity');
    expect(processor.readinessProbe.grpc).toEqual({ port: config.envoy.readinessPort, service: 'envoy.service.ext_proc.v3.ExternalProcessor' });
    expect(processor.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    expect(podOf('default').spec.containers.flatMap((c: Json) => c.ports.map((p: Json) => p.containerPort))).not.toContain(config.grpc.port);
    const metrics = ofKind('default', 'Service').find((s) => s.metadata.name.endsWith('-metrics'));
    expect(metrics.spec).toMatchObject({ clusterIP: 'None', ports: [{ name: 'metrics', port: config.http.port, targetPort: 'admin' }] });
  });
});

describe('charts/codex-affinity: monitoring objects are validated like the rest', () => {
  // The ServiceMonitor, PrometheusRule and dashboard templates belong to the operations work;
  // whatever the chart renders goes through the same validation above. This shows that the
  // Prometheus Operator kinds are checked against their CRD schemas
  // (@kubernetes-models/prometheus-operator), using the chart's metrics Service.
  const metricsService = (): Json => ofKind('default', 'Service').find((s) => s.metadata.name.endsWith('-metrics'));
  const serviceMonitor = (): Json => ({
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'ServiceMonitor',
    metadata: { name: 'codex-affinity', namespace: 'ai' },
    spec: {
      selector: { matchLabels: { 'app.kubernetes.io/component': metricsService().metadata.labels['app.kubernetes.io/component'], 'app.kubernetes.io/instance': 'codex-affinity' } },
      endpoints: [{ port: metricsService().spec.ports[0].name, path: '/metrics', interval: '30s' }],
    },
  });

  it('a ServiceMonitor on the metrics Service passes; a misspelt or mistyped one does not', async () => {
    expect(await schemaErrors([{ source: 'monitor', object: serviceMonitor() }])).toEqual([]);
    expect(typeErrors([{ source: 'monitor', object: serviceMonitor() }])).toEqual([]);
    const misspelt = serviceMonitor();
    misspelt.spec.endpoints[0].intervall = '30s';
    expect(typeErrors([{ source: 'misspelt', object: misspelt }])).toEqual([expect.stringMatching(/'"intervall"' does not exist/)]);
    const mistyped = serviceMonitor();
    mistyped.spec.endpoints[0].interval = 30;
    expect(await schemaErrors([{ source: 'mistyped', object: mistyped }])).toEqual([expect.stringMatching(/interval must be string/)]);
  });
});

describe('charts/codex-affinity refuses what would break', () => {
  it('values outside the schema, naming the key', () => {
    expect(failure(['--set', 'envoy.bogus=1'])).toMatch(/at '\/envoy': additional properties 'bogus' not allowed/);
    expect(failure(['--set', 'envoy.messageTimeout=500ms'])).toMatch(/at '\/envoy\/messageTimeout'/);
    expect(failure(['--set', 'store.kind=redis'])).toMatch(/at '\/store': missing property 'hmacSecret'/);
    expect(failure(['--set', 'accounts[0].wieght=2,accounts[0].name=a,accounts[0].cluster=c'])).toMatch(/additional properties 'wieght' not allowed/);
  });

  it('several replicas or autoscaling with the memory store; keys the chart sets given in `config`', () => {
    expect(failure(['--set', 'replicas=2'])).toContain('needs store.kind redis');
    expect(failure(['--set', 'autoscaling.enabled=true'])).toContain('needs store.kind redis');
    expect(failure(['--set', 'config.shutdown.grace=5s'])).toContain('config.shutdown: set by the chart');
  });

  it('a message timeout the Redis deadline cannot meet is refused by the processor at start', () => {
    // 50 ms: four store calls and the processing fit in 0.5 s exactly.
    expect(variant('redis').config.store).toMatchObject({ deadline: 50 });
    expect(variant('redis').config.envoy.messageTimeout).toBe(500);
    expect(() => render('slower-redis', ['-f', path.join(EXAMPLES, 'redis.yaml'), '--set', 'store.deadline=200ms'])).toThrow(ConfigError);
    expect(() => render('slower-redis', ['-f', path.join(EXAMPLES, 'redis.yaml'), '--set', 'store.deadline=200ms'])).toThrow(/envoy\.messageTimeout: 500ms is shorter than 1100ms/);
  });
});
