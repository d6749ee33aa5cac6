// The Envoy bootstrap generator (src/envoy/): every variant a user can configure is a strictly
// valid Envoy v3 Bootstrap (official protos, test/deploy/envoy-validator.ts), and each rule the
// generator owns is tried against a config that would break it.
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { envoyBootstrap, envoyBootstrapYaml } from '../../src/envoy/bootstrap.js';
import { ENVOY_CONTROL_HEADERS } from '../../src/envoy/edge-hygiene.js';
import { exactPathsRegex, quoteRegex } from '../../src/envoy/routes.js';
import { EnvoyConfigError } from '../../src/envoy/timeouts.js';
import { validateBootstrap } from '../deploy/envoy-validator.js';

type Json = any; // the generated bootstrap, walked freely in the assertions
const ACCOUNTS: ConfigInput['accounts'] = [
  { name: 'acct-a', cluster: 'openai-acct-a', profile: 'openai', domain: 'org-1' },
  { name: 'acct-b', cluster: 'openai-acct-b', profile: 'openai', domain: 'org-1' },
  { name: 'acct-c', cluster: 'codex-acct-c', profile: 'chatgpt-codex' },
];
const REDIS_STORE = { kind: 'redis', url: 'redis://redis:6379', hmacSecret: { env: 'CODEX_AFFINITY_HMAC' } } as const;
const generate = (input: Partial<ConfigInput>): Json => envoyBootstrap(parseConfig({ accounts: ACCOUNTS, ...input }));
const hcmOf = (doc: Json): Json => doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
const extProcOf = (doc: Json): Json => hcmOf(doc).http_filters.find((f: Json) => f.name === 'envoy.filters.http.ext_proc').typed_config;
const removedOf = (doc: Json): string[] => hcmOf(doc).http_filters[0].typed_config.mutations.request_mutations.map((m: Json) => m.remove);
const routesOf = (doc: Json): Json[] => hcmOf(doc).route_config.virtual_hosts[0].routes;
const clusterOf = (doc: Json, name: string): Json => doc.static_resources.clusters.find((c: Json) => c.name === name);

const VARIANTS: Record<string, Partial<ConfigInput>> = {
  'defaults (memory store)': {},
  'Redis store with a long deadline': { store: { ...REDIS_STORE, deadline: '200ms' } },
  'several pools with pool and principal headers': {
    routing: { poolHeader: 'x-codex-pool', principalHeader: 'x-codex-principal' },
    pools: [{ name: 'default', accounts: ['acct-a'] }, { name: 'team-b', accounts: ['acct-b', 'acct-c'] }],
  },
  'retry guard on': { routing: { retryGuard: true } },
  'openai accounts only, custom paths and cluster header': {
    accounts: [{ name: 'solo', cluster: 'solo' }],
    routing: { clusterHeader: 'x-route-to', inferencePaths: ['/v1/chat/completions'] },
  },
  'private upstream without TLS, IPv6 loopback processor': {
    grpc: { host: '::1', port: 50052 },
    accounts: [{ name: 'local', cluster: 'local', upstream: { host: 'mock.internal', port: 8080, tls: false } }],
  },
  'a readiness listener for the kubelet': { envoy: { readinessPort: 9902, adminPort: 9901 } },
  'other ports, buffer and idle timeout, explicit default clusters': {
    envoy: { listenerPort: 8443, adminPort: 19000, bufferLimitBytes: 16777216, streamIdleTimeout: '30m', defaultCluster: 'openai-acct-b', chatgptDefaultCluster: 'codex-acct-c', messageTimeout: '2s' },
  },
};

describe('every variant is a valid Envoy v3 Bootstrap', () => {
  for (const [name, input] of Object.entries(VARIANTS)) {
    it(name, () => {
      const doc = generate(input);
      expect(validateBootstrap(doc)).toEqual({ errors: [], jsonNames: [] });
      // The YAML the command prints is the same document.
      expect(parse(envoyBootstrapYaml(parseConfig({ accounts: ACCOUNTS, ...input }), 'x.yaml'))).toEqual(doc);
    });
  }
});

describe('one source: what the processor config declares, Envoy gets', () => {
  it('one cluster per account, named like it, plus the processor; the routes read the cluster header', () => {
    const doc = generate(VARIANTS['openai accounts only, custom paths and cluster header']!);
    expect(doc.static_resources.clusters.map((c: Json) => c.name)).toEqual(['codex-affinity', 'solo']);
    // No /responses path: no WebSocket route; no chatgpt account: one default route.
    expect(routesOf(doc).map((r) => r.name)).toEqual(['inference', 'create_conversation', 'stored_objects', 'default']);
    for (const route of routesOf(doc).slice(0, 3)) expect(route.route.cluster_header).toBe('x-route-to');
    expect(routesOf(doc)[0].match.safe_regex.regex).toBe('^(/v1/chat/completions)$');
  });

  it('profiles pick the public host over verified TLS; an explicit upstream wins, TLS off when asked', () => {
    const doc = generate({});
    const hostOf = (c: Json) => c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
    expect(hostOf(clusterOf(doc, 'openai-acct-a'))).toEqual({ address: 'api.openai.com', port_value: 443 });
    expect(hostOf(clusterOf(doc, 'codex-acct-c'))).toEqual({ address: 'chatgpt.com', port_value: 443 });
    expect(clusterOf(doc, 'codex-acct-c').transport_socket.typed_config.sni).toBe('chatgpt.com');
    const local = generate(VARIANTS['private upstream without TLS, IPv6 loopback processor']!);
    expect(hostOf(clusterOf(local, 'local'))).toEqual({ address: 'mock.internal', port_value: 8080 });
    expect(clusterOf(local, 'local').transport_socket).toBeUndefined();
  });

  it('the metadata namespace reaches both the ext_proc filter and the access log', () => {
    const doc = generate({ routing: { metadataNamespace: 'team_ns' } });
    expect(extProcOf(doc).metadata_options.receiving_namespaces.untyped).toEqual(['team_ns']);
    expect(JSON.stringify(hcmOf(doc).access_log)).toContain('%DYNAMIC_METADATA(team_ns:account)%');
    expect(JSON.stringify(hcmOf(doc).access_log)).not.toContain('codex_affinity:');
  });

  it('x-envoy-* mutations are allowed exactly when the retry guard needs them', () => {
    expect(extProcOf(generate({})).mutation_rules).toBeUndefined();
    expect(extProcOf(generate({ routing: { retryGuard: true } })).mutation_rules).toEqual({ allow_envoy: true });
  });

  it('paths with regex metacharacters are matched literally (as the chart\'s regexQuoteMeta does)', () => {
    expect(quoteRegex('/v1/a.b+c(d)')).toBe('/v1/a\\.b\\+c\\(d\\)');
    const regex = new RegExp(exactPathsRegex(['/v1/a.b', '/x']));
    expect(regex.test('/v1/a.b')).toBe(true);
    expect(regex.test('/v1/aXb')).toBe(false);
    expect(regex.test('/v1/a.b/more')).toBe(false);
  });
});

describe('the readiness listener', () => {
  it('passes only GET /ready to the loopback admin port and the gRPC health check to the processor; no readiness listener unless asked', () => {
    expect(generate({}).static_resources.listeners).toHaveLength(1);
    expect(clusterOf(generate({}), 'envoy_admin')).toBeUndefined();
    const doc = generate({ envoy: { readinessPort: 9902, adminPort: 9911 } });
    const readiness = doc.static_resources.listeners[1];
    expect(readiness.address.socket_address).toEqual({ address: '0.0.0.0', port_value: 9902 });
    const routes = readiness.filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes;
    expect(routes[0]).toMatchObject({ match: { path: '/ready', headers: [{ name: ':method', string_match: { exact: 'GET' } }] }, route: { cluster: 'envoy_admin' } });
    expect(routes[1]).toEqual({ match: { path: '/grpc.health.v1.Health/Check', grpc: {} }, route: { cluster: 'codex-affinity', timeout: '2s' } });
    expect(routes[2]).toEqual({ match: { prefix: '/' }, direct_response: { status: 404 } });
    expect(routes).toHaveLength(3);
    expect(clusterOf(doc, 'envoy_admin').load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address).toEqual({ address: '127.0.0.1', port_value: 9911 });
  });
});

describe('edge header hygiene', () => {
  it('removes the cluster header and the x-envoy-* control headers first, before any filter', () => {
    const doc = generate({});
    expect(hcmOf(doc).http_filters.map((f: Json) => f.name)).toEqual(['codex_affinity.edge_hygiene', 'envoy.filters.http.ext_proc', 'envoy.filters.http.router']);
    expect(removedOf(doc)).toEqual(['x-codex-affinity-cluster', ...ENVOY_CONTROL_HEADERS]);
    for (const header of ENVOY_CONTROL_HEADERS) expect(header).toMatch(/^x-envoy-/);
  });

  it('removes the configured pool and principal headers too, so a client cannot pick a tenant', () => {
    const doc = generate(VARIANTS['several pools with pool and principal headers']!);
    expect(removedOf(doc).slice(0, 3)).toEqual(['x-codex-affinity-cluster', 'x-codex-pool', 'x-codex-principal']);
    expect(hcmOf(doc).route_config.internal_only_headers).toEqual(['x-codex-affinity-cluster', 'x-codex-pool', 'x-codex-principal']);
  });

  it('treats only the pod as internal, so Envoy strips forged control headers of every other client', () => {
    const hcm = hcmOf(generate({}));
    expect(hcm.use_remote_address).toBe(true);
    expect(hcm.internal_address_config.cidr_ranges).toEqual([{ address_prefix: '127.0.0.1', prefix_len: 32 }]);
    expect(hcmOf(generate({ envoy: { internalAddresses: ['10.0.0.0/8', 'fd00::/8'] } })).internal_address_config.cidr_ranges)
      .toEqual([{ address_prefix: '10.0.0.0', prefix_len: 8 }, { address_prefix: 'fd00::', prefix_len: 8 }]);
  });

  it('a header named twice (the pool header is the cluster header) is removed once', () => {
    const doc = generate({ routing: { clusterHeader: 'x-same', poolHeader: 'x-same' } });
    expect(removedOf(doc).filter((h) => h === 'x-same')).toHaveLength(1);
  });
});

describe('the processor is reached over loopback, with a message timeout sized for its store', () => {
  it('a wildcard or loopback listen address is dialled on loopback; any other is refused', () => {
    const address = (host: string) => clusterOf(generate({ grpc: { host, port: 50051 } }), 'codex-affinity').load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
    expect(address('0.0.0.0')).toEqual({ address: '127.0.0.1', port_value: 50051 });
    expect(address('127.0.0.1')).toEqual({ address: '127.0.0.1', port_value: 50051 });
    expect(address('::')).toEqual({ address: '::1', port_value: 50051 });
    expect(() => generate({ grpc: { host: '10.1.2.3', port: 50051 } })).toThrow(EnvoyConfigError);
    expect(() => generate({ grpc: { host: '10.1.2.3', port: 50051 } })).toThrow(/grpc\.host/);
  });

  it('memory store: 0.5 s; Redis: four deadlines plus 300 ms, never below 0.5 s', () => {
    expect(extProcOf(generate({})).message_timeout).toBe('0.5s');
    expect(extProcOf(generate({ store: REDIS_STORE })).message_timeout).toBe('0.5s'); // 4 × 50 ms + 300 ms
    expect(extProcOf(generate({ store: { ...REDIS_STORE, deadline: '200ms' } })).message_timeout).toBe('1.1s');
    expect(extProcOf(generate({})).max_message_timeout).toBeUndefined();
  });

  it('refuses an explicit message timeout the store deadline cannot meet', () => {
    expect(() => generate({ store: { ...REDIS_STORE, deadline: '200ms' }, envoy: { messageTimeout: '1s' } })).toThrow(/envoy\.messageTimeout: 1000ms is shorter than 1100ms/);
    expect(extProcOf(generate({ store: { ...REDIS_STORE, deadline: '200ms' }, envoy: { messageTimeout: '1100ms' } })).message_timeout).toBe('1.1s');
  });

  it('refuses a default cluster that is no account\'s', () => {
    expect(() => generate({ envoy: { defaultCluster: 'nowhere' } })).toThrow(/envoy\.defaultCluster: "nowhere" is not the cluster of any account/);
    expect(() => generate({ envoy: { chatgptDefaultCluster: 'nowhere' } })).toThrow(/envoy\.chatgptDefaultCluster/);
  });
});
