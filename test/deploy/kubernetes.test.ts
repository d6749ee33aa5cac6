// Checks the plain manifests of deploy/kubernetes/ (a kustomization): every file parses with
// the right kind, the two configs that configMapGenerator turns into ConfigMaps are real (the
// processor config passes the processor's own parser; the Envoy config is deploy/envoy.yaml
// byte for byte and passes the strict proto validator), and the pod is wired to them: ports,
// probes, mounts, shutdown timing, security context. With kubectl on PATH, the kustomization
// is also rendered for real (`kubectl kustomize`, offline).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import { validateBootstrap } from './envoy-validator.js';

type Json = any; // parsed YAML, walked freely in the assertions
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const DIR = path.join(REPO, 'deploy/kubernetes');
const read = (file: string) => fs.readFileSync(path.join(DIR, file), 'utf8');
const docsOf = (text: string): Json[] => parseAllDocuments(text).map((d) => {
  if (d.errors.length > 0) throw d.errors[0];
  return d.toJS();
}).filter((d) => d !== null);

const KUSTOMIZATION: Json = parse(read('kustomization.yaml'));
const RESOURCES: Json[] = (KUSTOMIZATION.resources as string[]).flatMap((file) => docsOf(read(file)));
const ofKind = (kind: string): Json => {
  const found = RESOURCES.filter((r) => r.kind === kind);
  expect(found, kind).toHaveLength(1);
  return found[0];
};
const DEPLOYMENT = ofKind('Deployment');
const SERVICE = ofKind('Service');
const PDB = ofKind('PodDisruptionBudget');
const SERVICE_ACCOUNT = ofKind('ServiceAccount');
const POD = DEPLOYMENT.spec.template;
const container = (name: string): Json => POD.spec.containers.find((c: Json) => c.name === name);
const ENVOY_CONTAINER = container('envoy');
const PROCESSOR_CONTAINER = container('codex-affinity');

const generated = (name: string): { name: string; file: string } => {
  const entry = KUSTOMIZATION.configMapGenerator.find((g: Json) => g.name === name);
  expect(entry?.files, name).toHaveLength(1);
  return { name, file: entry.files[0] };
};
const ENVOY_CM = generated('codex-affinity-envoy');
const CONFIG_CM = generated('codex-affinity-config');
const CONFIG = parseConfig(parse(read(CONFIG_CM.file)));
const ENVOY_TEXT = read(ENVOY_CM.file);
const ENVOY: Json = parse(ENVOY_TEXT);

/** The file a container sees at `file`, as [ConfigMap name, key], through its volume mounts. */
function mountedConfigMap(c: Json, file: string): [string, string] | undefined {
  const mount = c.volumeMounts.find((m: Json) => path.dirname(file) === m.mountPath);
  const volume = mount && POD.spec.volumes.find((v: Json) => v.name === mount.name);
  return volume?.configMap ? [volume.configMap.name, path.basename(file)] : undefined;
}
/** A container port by name or number, as a number. */
const portOf = (c: Json, port: string | number): number | undefined =>
  typeof port === 'number' ? port : c.ports?.find((p: Json) => p.name === port)?.containerPort;
const argAfter = (args: string[], flag: string) => args[args.indexOf(flag) + 1];
const includes = (labels: Record<string, string>, subset: Record<string, string>) =>
  Object.keys(subset).length > 0 && Object.entries(subset).every(([k, v]) => labels[k] === v);
const hcm: Json = ENVOY.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;

describe('deploy/kubernetes: files', () => {
  it('every file is listed by the kustomization, parses and has the expected kind', () => {
    const files = fs.readdirSync(DIR).sort();
    expect(files).toEqual(['config.yaml', 'deployment.yaml', 'envoy.yaml', 'kustomization.yaml', 'pdb.yaml', 'service.yaml', 'serviceaccount.yaml']);
    const listed = [...KUSTOMIZATION.resources, ...KUSTOMIZATION.configMapGenerator.flatMap((g: Json) => g.files), 'kustomization.yaml'];
    expect(listed.sort()).toEqual(files);
    expect(RESOURCES.map((r) => `${r.apiVersion} ${r.kind}`).sort()).toEqual(['apps/v1 Deployment', 'policy/v1 PodDisruptionBudget', 'v1 Service', 'v1 ServiceAccount']);
    for (const r of RESOURCES) expect(r.metadata.name, r.kind).toBe('codex-affinity');
  });

  it('the processor config (ConfigMap codex-affinity-config) parses with the processor\'s own parser', () => {
    expect(CONFIG.grpc).toEqual({ host: '127.0.0.1', port: 50051 }); // Envoy is in the same pod
    expect(CONFIG.http).toEqual({ host: '0.0.0.0', port: 9464 }); // probes and Prometheus from outside the pod
    const defaults = configSchema.parse({ accounts: [{ name: 'a', cluster: 'c' }] });
    expect([CONFIG.grpc.port, CONFIG.http.port]).toEqual([defaults.grpc.port, defaults.http.port]);
    expect(CONFIG.routing.inferencePaths).toEqual(defaults.routing.inferencePaths); // what envoy.yaml's inference route mirrors
    expect(CONFIG.store.kind).toBe('memory');
  });

  it('the Envoy config (ConfigMap codex-affinity-envoy) is deploy/envoy.yaml and a valid Bootstrap', () => {
    expect(ENVOY_TEXT, 'deploy/kubernetes/envoy.yaml differs: cp deploy/envoy.yaml deploy/kubernetes/').toBe(fs.readFileSync(path.join(REPO, 'deploy/envoy.yaml'), 'utf8'));
    expect(validateBootstrap(ENVOY)).toEqual({ errors: [], jsonNames: [] });
  });

  it('the Envoy config and the processor config agree: gRPC address, cluster header, one cluster per account', () => {
    const extProc = hcm.http_filters.find((f: Json) => f.name === 'envoy.filters.http.ext_proc').typed_config;
    const grpcCluster = ENVOY.static_resources.clusters.find((c: Json) => c.name === extProc.grpc_service.envoy_grpc.cluster_name);
    expect(grpcCluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address).toEqual({ address: CONFIG.grpc.host, port_value: CONFIG.grpc.port });
    const routes: Json[] = hcm.route_config.virtual_hosts[0].routes;
    for (const r of routes.filter((r) => r.route.cluster_header !== undefined)) expect(r.route.cluster_header).toBe(CONFIG.routing.clusterHeader);
    const clusterNames = ENVOY.static_resources.clusters.map((c: Json) => c.name);
    for (const a of CONFIG.accounts) expect(clusterNames, a.cluster).toContain(a.cluster);
    for (const r of routes.filter((r) => r.route.cluster !== undefined)) expect(CONFIG.accounts.map((a) => a.cluster)).toContain(r.route.cluster);
  });
});

describe('deploy/kubernetes: the pod', () => {
  it('runs Envoy and the processor side by side, each with its config mounted', () => {
    expect(POD.spec.containers.map((c: Json) => c.name)).toEqual(['envoy', 'codex-affinity']);
    expect(ENVOY_CONTAINER.image).toMatch(/^envoyproxy\/envoy:v1\.\d+/);
    expect(mountedConfigMap(ENVOY_CONTAINER, argAfter(ENVOY_CONTAINER.args, '-c')!)).toEqual([ENVOY_CM.name, ENVOY_CM.file]);
    expect(PROCESSOR_CONTAINER.image).toBe('ghcr.io/ORG/codex-affinity:0.1.0');
    expect(PROCESSOR_CONTAINER.args).toEqual(['serve', '--config', '/etc/codex-affinity/config.yaml']);
    expect(mountedConfigMap(PROCESSOR_CONTAINER, PROCESSOR_CONTAINER.args[2])).toEqual([CONFIG_CM.name, CONFIG_CM.file]);
    expect(POD.spec.serviceAccountName).toBe(SERVICE_ACCOUNT.metadata.name);
    expect(POD.spec.automountServiceAccountToken).toBe(false);
  });

  it('probes the processor\'s /readyz and /healthz on its admin port; gRPC is not exposed', () => {
    const readiness = PROCESSOR_CONTAINER.readinessProbe.httpGet;
    const liveness = PROCESSOR_CONTAINER.livenessProbe.httpGet;
    expect([readiness.path, liveness.path]).toEqual(['/readyz', '/healthz']);
    expect(portOf(PROCESSOR_CONTAINER, readiness.port)).toBe(CONFIG.http.port);
    expect(portOf(PROCESSOR_CONTAINER, liveness.port)).toBe(CONFIG.http.port);
    // The paths the admin server answers (src/admin/http-server.ts).
    const admin = fs.readFileSync(path.join(REPO, 'src/admin/http-server.ts'), 'utf8');
    for (const p of ['/readyz', '/healthz', '/metrics']) expect(admin).toContain(`'${p}'`);
    const containerPorts = POD.spec.containers.flatMap((c: Json) => (c.ports ?? []).map((p: Json) => p.containerPort));
    expect(containerPorts).not.toContain(CONFIG.grpc.port);
    expect(POD.metadata.annotations).toEqual({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(CONFIG.http.port), 'prometheus.io/path': '/metrics' });
    expect(portOf(ENVOY_CONTAINER, ENVOY_CONTAINER.readinessProbe.tcpSocket.port)).toBe(ENVOY.static_resources.listeners[0].address.socket_address.port_value);
  });

  it('shuts down in order: Envoy drains first, the processor outlives it, all within the grace period', () => {
    const adminPort = ENVOY.admin.address.socket_address.port_value;
    const [shell, flag, script] = ENVOY_CONTAINER.lifecycle.preStop.exec.command as string[];
    expect([shell, flag]).toEqual(['/bin/bash', '-c']);
    expect(script).toContain(`/dev/tcp/127.0.0.1/${adminPort}`);
    expect(script).toContain('POST /drain_listeners?graceful HTTP/1.1');
    const envoySleep = Number(/^\s*sleep (\d+)\s*$/m.exec(script!)?.[1]);
    expect(envoySleep).toBe(Number(argAfter(ENVOY_CONTAINER.args, '--drain-time-s'))); // serve the whole drain
    const processorSleep: number = PROCESSOR_CONTAINER.lifecycle.preStop.sleep.seconds;
    expect(processorSleep).toBeGreaterThan(envoySleep);
    const grace = POD.spec.terminationGracePeriodSeconds * 1000;
    expect(grace).toBeGreaterThan(CONFIG.shutdown.grace);
    expect(grace).toBeGreaterThan(processorSleep * 1000 + CONFIG.shutdown.grace);
  });

  it('runs as non-root with read-only root filesystems, no capabilities, and bounded resources', () => {
    expect(POD.spec.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    for (const c of POD.spec.containers) {
      expect(c.securityContext, c.name).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      for (const kind of ['requests', 'limits']) expect(Object.keys(c.resources[kind]).sort(), `${c.name} ${kind}`).toEqual(['cpu', 'memory']);
    }
  });

  it('one replica with the in-memory store (bindings are per process)', () => {
    if (CONFIG.store.kind === 'memory') expect(DEPLOYMENT.spec.replicas).toBe(1);
    expect(DEPLOYMENT.spec.strategy.rollingUpdate).toEqual({ maxSurge: 1, maxUnavailable: 0 });
  });

  it('the Service reaches Envoy\'s listener; the Service, the PDB and the Deployment select the pod', () => {
    const labels = POD.metadata.labels;
    expect(includes(labels, DEPLOYMENT.spec.selector.matchLabels)).toBe(true);
    expect(includes(labels, SERVICE.spec.selector)).toBe(true);
    expect(includes(labels, PDB.spec.selector.matchLabels)).toBe(true);
    const [port] = SERVICE.spec.ports;
    expect(port.port).toBe(10000);
    expect(portOf(ENVOY_CONTAINER, port.targetPort)).toBe(ENVOY.static_resources.listeners[0].address.socket_address.port_value);
    expect(PDB.spec.maxUnavailable).toBe(1); // never blocks a node drain with one replica
  });
});

const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;

describe('deploy/kubernetes rendered by `kubectl kustomize`', () => {
  it('renders, with hashed ConfigMap names the Deployment refers to and the files as data', () => {
    // kubectl ships with this project's machine image; .ci/run installs Debian's if it is missing.
    expect(kubectl, 'kubectl is not on PATH: install it (apt-get install kubernetes-client) to render the manifests').toBe(true);
    const result = spawnSync('kubectl', ['kustomize', DIR], { encoding: 'utf8' });
    expect(result.status, result.stderr).toBe(0);
    const docs = docsOf(result.stdout);
    expect(docs.map((d) => d.kind).sort()).toEqual(['ConfigMap', 'ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Service', 'ServiceAccount']);
    const volumes: Json[] = docs.find((d) => d.kind === 'Deployment').spec.template.spec.volumes;
    for (const { name, file } of [ENVOY_CM, CONFIG_CM]) {
      const cm = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name.startsWith(`${name}-`));
      expect(cm.metadata.name).toMatch(new RegExp(`^${name}-[a-z0-9]{10}$`));
      expect(Object.keys(cm.data)).toEqual([file]);
      expect(cm.data[file]).toBe(read(file));
      expect(volumes.map((v) => v.configMap?.name)).toContain(cm.metadata.name);
    }
    const config = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name.startsWith(`${CONFIG_CM.name}-`));
    expect(parseConfig(parse(config.data[CONFIG_CM.file])).accounts).toHaveLength(CONFIG.accounts.length);
  });
});
