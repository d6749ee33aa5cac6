// Validates deploy/envoy.yaml strictly against the official Envoy protos (the validator lives
// in ./envoy-validator.ts: every key, enum, scalar, "@type", oneof, required and deprecated
// field), shows that the validator catches each kind of mistake, then checks the facts the
// processor relies on (DESIGN.md "Envoy side", shared/envoy-ext-proc.md), including which
// route a request takes: inference calls by the processor's header, everything else to a
// fixed account cluster.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import { envoyBootstrap } from '../../src/envoy/bootstrap.js';
import { ENVOY_CONTROL_HEADERS } from '../../src/envoy/edge-hygiene.js';
import { PROFILE_RULES } from '../../src/rewrite/profiles.js';
import { validateBootstrap } from './envoy-validator.js';
import { routeFor as firstRoute, routeMatches, type RequestLine } from './route-match.js';

const read = (rel: string) => fs.readFileSync(fileURLToPath(new URL(`../../${rel}`, import.meta.url)), 'utf8');
type Json = any; // parsed YAML, walked freely in the assertions
const ENVOY: Json = parse(read('deploy/envoy.yaml'));
const APP: Json = parse(read('deploy/example-config.yaml'));
// ---- lookups into deploy/envoy.yaml ---------------------------------------------------
const EXT_PROC = 'type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor';
const hcm: Json = ENVOY.static_resources.listeners[0].filter_chains[0].filters
  .find((f: Json) => f.name === 'envoy.filters.network.http_connection_manager').typed_config;
const httpFilters: Json[] = hcm.http_filters;
const extProcFilter: Json = httpFilters.find((f) => f.typed_config?.['@type'] === EXT_PROC);
const extProc: Json = extProcFilter.typed_config;
const routes: Json[] = hcm.route_config.virtual_hosts.flatMap((vh: Json) => vh.routes);
const upgradeRoute: Json = routes.find((r) => r.match.headers?.some((h: Json) => h.name === 'upgrade' && h.string_match?.exact === 'websocket'));
/** The route of inference calls: routed by the processor's header, not an upgrade route. */
const inferenceRoute: Json = routes.find((r) => r.route.cluster_header !== undefined && r !== upgradeRoute);
/** The routes with a fixed cluster (non-inference calls). */
const fixedRoutes: Json[] = routes.filter((r) => r.route.cluster !== undefined);
/** The processor's default routing.inferencePaths (exact paths, query ignored). */
const DEFAULT_INFERENCE_PATHS: string[] = configSchema.parse({ accounts: [{ name: 'a', cluster: 'c' }] }).routing.inferencePaths;

/** The first route that matches, as Envoy picks it. */
const routeFor = (request: RequestLine): Json => firstRoute(routes, request);
const clusters: Json[] = ENVOY.static_resources.clusters;
const clusterNamed = (name: string) => clusters.find((c) => c.name === name);
const clone = () => structuredClone(ENVOY);
const pathOfExtProc = `static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[${httpFilters.indexOf(extProcFilter)}].typed_config`;
const seconds = (d: string) => Number(d.replace(/s$/, ''));

describe('deploy/envoy.yaml is what `codex-affinity envoy-config` makes of deploy/example-config.yaml', () => {
  it('equals the generated bootstrap, key for key (only the comments differ)', () => {
    expect(ENVOY).toEqual(envoyBootstrap(parseConfig(APP)));
  });
  it('stops being equal when an account is added to the processor config only', () => {
    const more = structuredClone(APP);
    more.accounts.push({ name: 'acct-d', cluster: 'openai-acct-d', profile: 'openai' });
    expect(ENVOY).not.toEqual(envoyBootstrap(parseConfig(more)));
  });
});

describe('deploy/envoy.yaml against the official Envoy v3 protos', () => {
  it('is a valid Bootstrap: no unknown keys, bad enums, bad scalars, bad @type or oneof clashes', () => {
    const r = validateBootstrap(ENVOY);
    expect(r.errors).toEqual([]);
    expect(r.jsonNames).toEqual([]); // we write proto (snake_case) names only
  });

  describe('the validator catches', () => {
    const errorsAfter = (mutate: (doc: Json) => void) => { const doc = clone(); mutate(doc); return validateBootstrap(doc).errors; };
    const extProcOf = (doc: Json) => doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[httpFilters.indexOf(extProcFilter)].typed_config;

    it('an unknown key', () => {
      expect(errorsAfter((d) => { extProcOf(d).allow_mode_overide = true; })).toEqual([`${pathOfExtProc}.allow_mode_overide: unknown field of envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor`]);
    });
    it('a misspelt enum value', () => {
      expect(errorsAfter((d) => { extProcOf(d).processing_mode.request_body_mode = 'BUFFER'; })).toEqual([
        `${pathOfExtProc}.processing_mode.request_body_mode: unknown enum value "BUFFER" of envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode`]);
    });
    it('a wrong scalar type, a bad Duration and a bad wrapper value', () => {
      const errors = errorsAfter((d) => {
        extProcOf(d).allow_mode_override = 'true';
        extProcOf(d).message_timeout = 500;
        d.static_resources.listeners[0].per_connection_buffer_limit_bytes = -1;
      });
      expect(errors).toEqual([
        'static_resources.listeners[0].per_connection_buffer_limit_bytes: expected uint32, got number -1 (google.protobuf.UInt32Value)',
        `${pathOfExtProc}.allow_mode_override: expected bool, got string`,
        `${pathOfExtProc}.message_timeout: expected a duration string like "0.5s" for google.protobuf.Duration, got number 500`,
      ]);
    });
    it('a bad @type, and checks the fields of a good one', () => {
      expect(errorsAfter((d) => { extProcOf(d)['@type'] = `${EXT_PROC}s`; })).toEqual([`${pathOfExtProc}.@type: unresolvable @type "${EXT_PROC}s"`]);
      expect(errorsAfter((d) => { extProcOf(d)['@type'] = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router'; }))
        .toContain(`${pathOfExtProc}.grpc_service: unknown field of envoy.extensions.filters.http.router.v3.Router`);
    });
    it('two members of one oneof, and a required oneof left empty', () => {
      expect(errorsAfter((d) => { d.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint_name = 'x'; }))
        .toEqual(['static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0]: oneof host_identifier has more than one member set (endpoint, endpoint_name)']);
      const main = routes.indexOf(inferenceRoute);
      expect(errorsAfter((d) => { delete d.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[main].route.cluster_header; }))
        .toEqual([`static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[${main}].route: oneof cluster_specifier requires one of cluster, cluster_header, weighted_clusters, cluster_specifier_plugin, inline_cluster_specifier_plugin`]);
    });
    it('a repeated field given as a scalar, a deprecated field and a missing required field', () => {
      const errors = errorsAfter((d) => {
        extProcOf(d).metadata_options.receiving_namespaces.untyped = 'codex_affinity';
        const h = d.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[routes.indexOf(upgradeRoute)].match.headers[0];
        h.exact_match = h.string_match.exact;
        delete h.string_match;
        delete extProcOf(d).grpc_service;
      });
      expect(errors).toContain(`${pathOfExtProc}.metadata_options.receiving_namespaces.untyped: expected an array (repeated field), got string`);
      expect(errors).toContain(`static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[${routes.indexOf(upgradeRoute)}].match.headers[0].exact_match: deprecated field`);
      expect(errors).toHaveLength(3);
      expect(errors).toContain(`${pathOfExtProc}.grpc_service: required field missing`);
    });
    it('accepts JSON (camelCase) names like Envoy does, but reports them', () => {
      const doc = clone();
      const cfg = extProcOf(doc);
      cfg.allowModeOverride = cfg.allow_mode_override;
      delete cfg.allow_mode_override;
      expect(validateBootstrap(doc)).toEqual({ errors: [], jsonNames: [`${pathOfExtProc}.allowModeOverride: JSON name of allow_mode_override`] });
      cfg.allow_mode_override = true;
      expect(validateBootstrap(doc).errors).toEqual([`${pathOfExtProc}.allow_mode_override: given twice (allowModeOverride and allow_mode_override)`]);
    });
  });
});

describe('deploy/envoy.yaml gives the processor what it relies on', () => {
  it('ext_proc: the processing modes of DESIGN.md, mode override, fail closed, x-envoy mutations, metadata namespace', () => {
    expect(extProc.processing_mode).toEqual({
      request_header_mode: 'SEND', response_header_mode: 'SEND', request_body_mode: 'BUFFERED',
      response_body_mode: 'NONE', request_trailer_mode: 'SKIP', response_trailer_mode: 'SKIP',
    });
    expect(extProc.allow_mode_override).toBe(true);
    expect(extProc.failure_mode_allow).toBe(false);
    // x-envoy-* mutations only for the retry guard, which the example config leaves off.
    expect(APP.routing.retryGuard ?? false).toBe(false);
    expect(extProc.mutation_rules).toBeUndefined();
    expect(extProc.metadata_options.receiving_namespaces.untyped).toContain(APP.routing?.metadataNamespace ?? 'codex_affinity');
    expect(seconds(extProc.message_timeout)).toBeGreaterThan(0.2);
    // The processor never sends override_message_timeout: a maximum would be dead config.
    expect(extProc.max_message_timeout).toBeUndefined();
    expect(httpFilters.at(-1)!.name).toBe('envoy.filters.http.router');
    expect(httpFilters.map((f) => f.name)).toEqual(['codex_affinity.edge_hygiene', 'envoy.filters.http.ext_proc', 'envoy.filters.http.router']);
    expect(httpFilters.indexOf(extProcFilter)).toBeLessThan(httpFilters.length - 1);
  });

  it('edge hygiene: a client cannot send the cluster header or x-envoy-* control headers past the first filter', () => {
    const hygiene = httpFilters[0];
    expect(hygiene.typed_config['@type']).toBe('type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation');
    const removed: string[] = hygiene.typed_config.mutations.request_mutations.map((m: Json) => m.remove);
    expect(removed).toContain(APP.routing.clusterHeader);
    for (const header of ['x-envoy-max-retries', 'x-envoy-retry-on', 'x-envoy-retriable-status-codes', 'x-envoy-upstream-rq-timeout-ms', 'x-envoy-hedge-on-per-try-timeout']) {
      expect(removed).toContain(header);
    }
    expect(removed).toEqual([APP.routing.clusterHeader, ...ENVOY_CONTROL_HEADERS]);
    // Envoy's own x-envoy-internal / x-envoy-external-address are set before the filters: kept.
    expect(removed).not.toContain('x-envoy-internal');
    // Envoy strips forged control headers of external requests itself; only the pod is internal.
    expect(hcm.use_remote_address).toBe(true);
    expect(hcm.internal_address_config).toEqual({ cidr_ranges: [{ address_prefix: '127.0.0.1', prefix_len: 32 }] });
    expect(hcm.route_config.internal_only_headers).toEqual([APP.routing.clusterHeader]);
  });

  it('the ext_proc gRPC cluster exists, points at the processor port and speaks HTTP/2', () => {
    const c = clusterNamed(extProc.grpc_service.envoy_grpc.cluster_name);
    expect(c).toBeDefined();
    const addr = c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
    expect(addr.port_value).toBe(APP.grpc.port);
    const opts = c.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
    expect(opts['@type']).toBe('type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions');
    expect(opts.explicit_http_config).toHaveProperty('http2_protocol_options');
  });

  it('the inference route takes the cluster from the processor header, 503 when unknown, one guarded retry, no timeout', () => {
    expect(inferenceRoute.route.cluster_header).toBe(APP.routing.clusterHeader);
    expect(inferenceRoute.route.cluster_not_found_response_code).toBe('SERVICE_UNAVAILABLE');
    expect(inferenceRoute.route.timeout).toBe('0s');
    expect(inferenceRoute.route.retry_policy).toEqual({ retry_on: 'connect-failure,reset,retriable-status-codes', retriable_status_codes: [502, 503], num_retries: 1 });
    // Routes in order: WebSocket upgrades, inference calls, calls on stored objects, then the fixed default routes.
    expect(routes.map((r) => r.name)).toEqual(['responses_websocket', 'inference', 'create_conversation', 'stored_objects', 'default_chatgpt_codex', 'default']);
  });

  it('the inference route matches exactly the default inference paths (POST, with or without a query string)', () => {
    expect(APP.routing.inferencePaths).toBeUndefined(); // the example config uses the defaults the route mirrors
    expect(DEFAULT_INFERENCE_PATHS).toHaveLength(7);
    for (const path of DEFAULT_INFERENCE_PATHS) {
      for (const query of ['', '?stream=true', '?a=1&b=%2Fx']) {
        expect(routeMatches(inferenceRoute.match, { method: 'POST', path: path + query }), path + query).toBe(true);
        expect(routeFor({ method: 'POST', path: path + query }).name, path + query).toBe('inference');
      }
    }
    const misses = ['/v1/models', '/v1/responsesX', '/v1/responses/', '/v1/responses/resp_123', '/v1/responses/resp_123/input_items',
      '/V1/RESPONSES', '/api/v1/responses', '/v1/chat/completionsX', '/v1/chat/completions/cc_1', '/responses/compactX',
      '/backend-api/codex/models', '/backend-api/codex', '/v1', '/',
      // near misses of every default path
      ...DEFAULT_INFERENCE_PATHS.flatMap((p) => [`${p}X`, `${p}/`, `${p}/x`, `/x${p}`, p.toUpperCase(), p.slice(0, -1)])];
    for (const path of misses) {
      expect(routeMatches(inferenceRoute.match, { method: 'POST', path }), path).toBe(false);
      expect(routeMatches(inferenceRoute.match, { method: 'POST', path: `${path}?q=/v1/responses` }), path).toBe(false);
    }
    // Profiles rewrite some paths (chatgpt-codex: /v1/responses -> /backend-api/codex/responses)
    // and Envoy re-resolves the route on the rewritten path: it must still be the inference route.
    for (const [from, to] of Object.values(PROFILE_RULES).flatMap((rules) => Object.entries(rules.paths))) {
      expect(routeFor({ method: 'POST', path: from }).name, from).toBe('inference');
      expect(routeFor({ method: 'POST', path: `${to}?x=1` }).name, to).toBe('inference');
    }
    // The processor routes POSTs only: other methods on these paths are not inference calls.
    for (const method of ['GET', 'DELETE', 'HEAD']) expect(routeFor({ method, path: '/v1/chat/completions' }).name).not.toBe('inference');
  });

  it('every other request goes to a fixed account cluster that exists, never to the processor header', () => {
    const last = routes.at(-1);
    expect(last.match).toEqual({ prefix: '/' }); // a catch-all: no request is left without a route
    expect(fixedRoutes.map((r) => r.name)).toEqual(['default_chatgpt_codex', 'default']);
    const profileOf = (cluster: string) => APP.accounts.find((a: Json) => a.cluster === cluster)?.profile;
    const hostOf = (cluster: string) => clusterNamed(cluster).load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address;
    for (const r of fixedRoutes) {
      expect(r.route.cluster_header, r.name).toBeUndefined();
      expect(clusterNamed(r.route.cluster), r.name).toBeDefined();
      expect(r.route.auto_host_rewrite, r.name).toBe(true);
      expect(r.route.retry_policy, r.name).toEqual({ retry_on: 'connect-failure', num_retries: 1 }); // safe for non-idempotent calls
    }
    const cases: Array<[RequestLine, string, string]> = [
      [{ method: 'GET', path: '/v1/models' }, 'openai', 'api.openai.com'],
      [{ method: 'GET', path: '/v1/models?limit=5' }, 'openai', 'api.openai.com'],
      [{ method: 'GET', path: '/v1/chat/completions' }, 'openai', 'api.openai.com'],
      [{ method: 'POST', path: '/v1/responsesX' }, 'openai', 'api.openai.com'],
      [{ method: 'GET', path: '/backend-api/codex/models?client_version=1' }, 'chatgpt-codex', 'chatgpt.com'],
      [{ method: 'GET', path: '/backend-api/wham/usage' }, 'chatgpt-codex', 'chatgpt.com'],
    ];
    for (const [request, profile, host] of cases) {
      const route = routeFor(request);
      expect(fixedRoutes, request.path).toContain(route);
      expect(profileOf(route.route.cluster), request.path).toBe(profile);
      expect(hostOf(route.route.cluster), request.path).toBe(host);
    }
  });

  it('WebSocket upgrades to the Responses paths use their own route with the request body off', () => {
    expect(routes.indexOf(upgradeRoute)).toBe(0);
    expect(upgradeRoute.route.cluster_header).toBe(APP.routing.clusterHeader);
    expect(upgradeRoute.route.upgrade_configs).toEqual([{ upgrade_type: 'websocket' }]);
    const perRoute = upgradeRoute.typed_per_filter_config[extProcFilter.name];
    expect(perRoute['@type']).toBe('type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute');
    expect(perRoute.overrides.processing_mode).toMatchObject({ request_body_mode: 'NONE', request_header_mode: 'SEND', response_header_mode: 'SEND' });
    const re = new RegExp(upgradeRoute.match.safe_regex.regex); // simple enough to mean the same in RE2
    for (const p of ['/v1/responses', '/responses', '/backend-api/codex/responses']) expect(p).toMatch(re);
    for (const p of ['/v1/chat/completions', '/v1/responses/compact', '/v1/responsesx']) expect(p).not.toMatch(re);
    const upgrade = { upgrade: 'WebSocket', connection: 'Upgrade' };
    expect(routeFor({ method: 'GET', path: '/v1/responses?x=1', headers: upgrade })).toBe(upgradeRoute);
    expect(routeFor({ method: 'GET', path: '/v1/responses' })).not.toBe(upgradeRoute);
    expect(routeFor({ method: 'GET', path: '/v1/responses/compact', headers: upgrade })).not.toBe(upgradeRoute);
    expect(hcm.upgrade_configs).toBeUndefined(); // upgrades are enabled on that route only
  });

  it('every account cluster of deploy/example-config.yaml exists, over verified TLS to its host', () => {
    const wanted: string[] = APP.accounts.map((a: Json) => a.cluster);
    expect(wanted).toEqual(['openai-acct-a', 'openai-acct-b', 'codex-acct-c']);
    for (const name of wanted) {
      const c = clusterNamed(name);
      expect(c, name).toBeDefined();
      expect(c.load_assignment.cluster_name).toBe(name);
      const host = c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
      expect(host.port_value).toBe(443);
      const tls = c.transport_socket.typed_config;
      expect(tls['@type']).toBe('type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext');
      expect(tls.sni).toBe(host.address);
      expect(tls.common_tls_context.validation_context.match_typed_subject_alt_names).toEqual([{ san_type: 'DNS', matcher: { exact: host.address } }]);
    }
  });

  it('buffers Codex-sized bodies and logs the codex_affinity metadata', () => {
    expect(ENVOY.static_resources.listeners[0].per_connection_buffer_limit_bytes).toBeGreaterThanOrEqual(8 * 1024 * 1024);
    const format = JSON.stringify(hcm.access_log[0].typed_config.log_format);
    for (const key of ['account', 'domain', 'strength', 'source', 'outcome']) expect(format).toContain(`%DYNAMIC_METADATA(codex_affinity:${key})%`);
    expect(format).toContain('%UPSTREAM_CLUSTER%');
    expect(format).toContain('%RESPONSE_CODE%');
  });
});
