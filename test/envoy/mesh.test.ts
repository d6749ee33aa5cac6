// The mesh variants of `codex-affinity envoy-config`: an Istio EnvoyFilter and Envoy Gateway
// resources, generated from the processor config. Every object is validated against its CRD
// schema (kubernetes-models packages for Istio, Envoy Gateway and the Gateway API), every
// Envoy fragment inside the EnvoyFilter against Envoy's protos, and the shipped files in
// deploy/istio/ and deploy/envoy-gateway/ are exactly what the command prints.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfigFile, parseConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { envoyConfigText } from '../../src/envoy/command.js';
import { envoyGatewayResources } from '../../src/envoy/envoy-gateway.js';
import { ENVOY_CONTROL_HEADERS } from '../../src/envoy/edge-hygiene.js';
import { istioEnvoyFilter } from '../../src/envoy/istio.js';
import { routesOf } from '../../src/envoy/routes.js';
import { EnvoyConfigError } from '../../src/envoy/timeouts.js';
import { validateAs } from '../deploy/envoy-validator.js';
import { REPO } from '../deploy/kube-tools.js';
import { schemaErrors, typeErrors } from '../deploy/kubernetes-schema.js';

type Json = any; // generated objects, walked freely in the assertions
const EXAMPLE_PATH = 'deploy/example-config.yaml';
const EXAMPLE = loadConfigFile(path.join(REPO, EXAMPLE_PATH));
const ISTIO_FLAGS = { format: 'istio', processor: 'codex-affinity.codex-affinity.svc.cluster.local:50051' };
const GATEWAY_FLAGS = { format: 'envoy-gateway', processor: 'codex-affinity', gateway: 'ai-gateway', namespace: 'codex-affinity' };
const POOLS: Partial<ConfigInput> = {
  routing: { poolHeader: 'x-tenant-pool', principalHeader: 'x-tenant-principal', retryGuard: true },
  accounts: [{ name: 'a', cluster: 'team-a', profile: 'openai' }, { name: 'b', cluster: 'team-b', profile: 'chatgpt-codex', upstream: { host: 'codex.internal', port: 8443 } }],
};
const pools = parseConfig(POOLS);
const filterOf = (config = EXAMPLE, context: 'GATEWAY' | 'SIDECAR_INBOUND' = 'GATEWAY'): Json =>
  istioEnvoyFilter(config, { processor: { host: 'codex-affinity.ai.svc.cluster.local', port: 50051 }, context, selector: { istio: 'ingressgateway' }, namespace: 'istio-system', port: 80 });
const gatewayOf = (config = EXAMPLE): Json[] => envoyGatewayResources(config, { gateway: 'ai-gateway', namespace: 'ai', processorService: 'codex-affinity' });
const objects = (list: Json[], source: string) => list.map((object) => ({ source, object }));

describe('shipped files are the command\'s output for deploy/example-config.yaml', () => {
  it('deploy/istio/envoyfilter.yaml', () => {
    expect(fs.readFileSync(path.join(REPO, 'deploy/istio/envoyfilter.yaml'), 'utf8')).toBe(envoyConfigText(EXAMPLE, EXAMPLE_PATH, ISTIO_FLAGS));
  });
  it('deploy/envoy-gateway/codex-affinity.yaml', () => {
    expect(fs.readFileSync(path.join(REPO, 'deploy/envoy-gateway/codex-affinity.yaml'), 'utf8')).toBe(envoyConfigText(EXAMPLE, EXAMPLE_PATH, GATEWAY_FLAGS));
  });
});

describe('Istio EnvoyFilter', () => {
  const variants: Array<[string, Json]> = [['example, gateway', filterOf()], ['pools, sidecar', filterOf(pools, 'SIDECAR_INBOUND')]];

  it('is valid against Istio\'s EnvoyFilter schema (@kubernetes-models/istio), no unknown field', async () => {
    const list = [...variants.map(([name, filter]) => ({ source: name, object: filter })), ...objects(parseAllDocuments(fs.readFileSync(path.join(REPO, 'deploy/istio/envoyfilter.yaml'), 'utf8')).map((d) => d.toJS()), 'shipped')];
    expect(await schemaErrors(list)).toEqual([]);
    expect(typeErrors(list)).toEqual([]);
    const broken = structuredClone(filterOf());
    broken.spec.configPatches[0].applyTo = 'CLUSTERS';
    expect(await schemaErrors([{ source: 'broken', object: broken }])).toEqual([expect.stringMatching(/applyTo must be equal to one of the allowed values/)]);
    const misspelt = structuredClone(filterOf());
    misspelt.spec.workloadSelectorr = misspelt.spec.workloadSelector;
    expect(typeErrors([{ source: 'misspelt', object: misspelt }])).toEqual([expect.stringMatching(/'"workloadSelectorr"' does not exist/)]);
  });

  it('every patch value is a valid Envoy message of the kind it patches', () => {
    const typeOf: Record<string, string> = { CLUSTER: 'envoy.config.cluster.v3.Cluster', HTTP_FILTER: 'envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter', HTTP_ROUTE: 'envoy.config.route.v3.Route' };
    for (const [name, filter] of variants) {
      for (const [index, patch] of filter.spec.configPatches.entries()) {
        expect(validateAs(typeOf[patch.applyTo]!, patch.patch.value), `${name} patch ${index}`).toEqual({ errors: [], jsonNames: [] });
      }
    }
    expect(validateAs('envoy.config.cluster.v3.Cluster', { name: 'x', typo: 1 }).errors).toEqual(['typo: unknown field of envoy.config.cluster.v3.Cluster']);
  });

  it('adds the processor cluster by DNS name and one cluster per account; hygiene first, ext_proc before the router', () => {
    const patches: Json[] = filterOf(pools).spec.configPatches;
    const clusters = patches.filter((p) => p.applyTo === 'CLUSTER').map((p) => p.patch.value);
    expect(clusters.map((c) => c.name)).toEqual(['codex-affinity', 'team-a', 'team-b']);
    expect(clusters[0].type).toBe('STRICT_DNS');
    expect(clusters[2].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address).toEqual({ address: 'codex.internal', port_value: 8443 });
    const [hygiene, extProc] = patches.filter((p) => p.applyTo === 'HTTP_FILTER');
    expect(hygiene.patch.operation).toBe('INSERT_FIRST');
    expect(hygiene.patch.value.typed_config.mutations.request_mutations.map((m: Json) => m.remove))
      .toEqual(['x-codex-affinity-cluster', 'x-tenant-pool', 'x-tenant-principal', ...ENVOY_CONTROL_HEADERS]);
    expect(extProc.patch).toMatchObject({ operation: 'INSERT_BEFORE', value: { name: 'envoy.filters.http.ext_proc' } });
    expect(extProc.match.listener.filterChain.filter.subFilter).toEqual({ name: 'envoy.filters.http.router' });
    expect(extProc.patch.value.typed_config.mutation_rules).toEqual({ allow_envoy: true });
  });

  it('inserts the stored-object routes, the inference route before them, then the WebSocket route before it, on the gateway port', () => {
    const routes = filterOf().spec.configPatches.filter((p: Json) => p.applyTo === 'HTTP_ROUTE');
    // Each INSERT_FIRST goes before the previous: the gateway tries them in the bootstrap's order.
    expect(routes.map((p: Json) => p.patch.value.name)).toEqual(['stored_objects', 'create_conversation', 'inference', 'responses_websocket']);
    expect(routes.map((p: Json) => p.patch.value).reverse()).toEqual(routesOf(EXAMPLE, 'envoy.filters.http.ext_proc').filter((r) => r.name !== 'default' && r.name !== 'default_chatgpt_codex'));
    for (const route of routes) expect(route.match).toEqual({ context: 'GATEWAY', routeConfiguration: { portNumber: 80 } });
    const onlyChat = filterOf(parseConfig({ accounts: [{ name: 'a', cluster: 'a' }], routing: { inferencePaths: ['/v1/chat/completions'] } }));
    expect(onlyChat.spec.configPatches.filter((p: Json) => p.applyTo === 'HTTP_ROUTE').map((p: Json) => p.patch.value.name)).toEqual(['stored_objects', 'create_conversation', 'inference']);
    const noObjects = filterOf(parseConfig({ accounts: [{ name: 'a', cluster: 'a' }], routing: { storedObjectCalls: false } }));
    expect(noObjects.spec.configPatches.filter((p: Json) => p.applyTo === 'HTTP_ROUTE').map((p: Json) => p.patch.value.name)).toEqual(['inference', 'responses_websocket']);
  });
});

describe('Envoy Gateway resources', () => {
  it('are valid against the Envoy Gateway and Gateway API CRD schemas, no unknown field', async () => {
    const shipped = parseAllDocuments(fs.readFileSync(path.join(REPO, 'deploy/envoy-gateway/codex-affinity.yaml'), 'utf8')).map((d) => d.toJS());
    const list = [...objects(gatewayOf(), 'example'), ...objects(gatewayOf(pools), 'pools'), ...objects(shipped, 'shipped')];
    expect(list.map((o) => o.object.kind)).toContain('EnvoyExtensionPolicy');
    expect(await schemaErrors(list)).toEqual([]);
    expect(typeErrors(list)).toEqual([]);
    const broken = structuredClone(gatewayOf()[0]);
    broken.spec.extProc[0].processingMode.request.body = 'Buffer';
    const misspelt = structuredClone(gatewayOf()[0]);
    misspelt.spec.extProc[0].failOpenn = true;
    expect(typeErrors([{ source: 'misspelt', object: misspelt }])).toEqual([expect.stringMatching(/'"failOpenn"' does not exist/)]);
    expect((await schemaErrors([{ source: 'broken', object: broken }]))[0]).toMatch(/body must be equal to one of the allowed values/);
  });

  it('the extension policy: buffered request body, mode override, fail closed, the message timeout of the bootstrap', () => {
    const [policy] = gatewayOf(pools);
    expect(policy.spec.extProc[0]).toEqual({
      backendRefs: [{ name: 'codex-affinity', port: 50051 }],
      processingMode: { allowModeOverride: true, request: { body: 'Buffered' }, response: {} },
      messageTimeout: '500ms',
      failOpen: false,
      metadata: { writableNamespaces: ['codex_affinity'] },
    });
  });

  it('clients cannot send the cluster, pool or principal header, nor any x-envoy-* header', () => {
    const clientPolicy = gatewayOf(pools).find((r) => r.kind === 'ClientTrafficPolicy');
    expect(clientPolicy.spec.headers.earlyRequestHeaders).toEqual({
      remove: ['x-codex-affinity-cluster', 'x-tenant-pool', 'x-tenant-principal'],
      removeOnMatch: [{ type: 'Prefix', value: 'x-envoy-' }],
    });
  });

  it('a rule per account on the cluster header, then the fixed defaults; upstream Host and TLS per account', () => {
    const resources = gatewayOf(pools);
    const route = resources.find((r) => r.kind === 'HTTPRoute');
    expect(route.spec.rules.map((r: Json) => r.matches[0].headers?.[0].value ?? r.matches[0].path.value)).toEqual(['team-a', 'team-b', '/backend-api/', '/']);
    expect(route.spec.rules[0].timeouts).toEqual({ request: '0s' });
    expect(route.spec.rules[1].filters).toEqual([{ type: 'URLRewrite', urlRewrite: { hostname: 'codex.internal' } }]);
    const backends = resources.filter((r) => r.kind === 'Backend');
    expect(backends.map((b) => [b.metadata.name, b.spec.endpoints[0].fqdn, b.spec.tls])).toEqual([
      ['team-a', { hostname: 'api.openai.com', port: 443 }, { sni: 'api.openai.com', wellKnownCACertificates: 'System' }],
      ['team-b', { hostname: 'codex.internal', port: 8443 }, { sni: 'codex.internal', wellKnownCACertificates: 'System' }],
    ]);
  });

  it('refuses a cluster name that cannot name a Kubernetes object', () => {
    expect(() => gatewayOf(parseConfig({ accounts: [{ name: 'a', cluster: 'Team_A' }] }))).toThrow(/cluster "Team_A" must be a DNS subdomain/);
  });
});

describe('envoy-config flags', () => {
  it('refuses a missing or malformed flag, naming it', () => {
    expect(() => envoyConfigText(EXAMPLE, 'x', { format: 'istio' })).toThrow(new EnvoyConfigError('--format istio needs --processor'));
    expect(() => envoyConfigText(EXAMPLE, 'x', { format: 'istio', processor: 'no-port' })).toThrow(/--processor: expected HOST:PORT/);
    expect(() => envoyConfigText(EXAMPLE, 'x', { format: 'istio', processor: 'p:1', context: 'mesh' })).toThrow(/--context: gateway or sidecar/);
    expect(() => envoyConfigText(EXAMPLE, 'x', { format: 'envoy-gateway', processor: 'p' })).toThrow('--format envoy-gateway needs --gateway');
    expect(() => envoyConfigText(EXAMPLE, 'x', { format: 'nginx' })).toThrow(/--format: bootstrap, istio or envoy-gateway/);
  });

  it('the sidecar context targets the workload\'s inbound listener on its port', () => {
    const filter = parse(envoyConfigText(EXAMPLE, 'x', { format: 'istio', processor: '127.0.0.1:50051', context: 'sidecar', selector: 'app=codex-client', namespace: 'team', port: '8080' }));
    expect(filter.metadata.namespace).toBe('team');
    expect(filter.spec.workloadSelector).toEqual({ labels: { app: 'codex-client' } });
    expect(new Set(filter.spec.configPatches.map((p: Json) => p.match.context))).toEqual(new Set(['SIDECAR_INBOUND']));
    expect(filter.spec.configPatches[0].patch.value.type).toBe('STATIC'); // a processor container in the same pod
    expect(filter.spec.configPatches.at(-1).match.routeConfiguration).toEqual({ portNumber: 8080 });
  });
});
