// Calls on stored objects (GET/POST/DELETE /v1/responses/{id}[/...], /v1/conversations[/...])
// are routed by the processor: it writes the cluster of the account holding the object into the
// cluster header and injects that account's credential. The generated routes must send exactly
// those calls by that header: one missing here would carry one account's credential to the
// default account's host. These tests take the first matching route of the generated config
// (./route-match.ts, Envoy's matching with RE2 run as JS RegExp) and compare it, request by
// request, with what the processor decides (storedObjectCall, inference paths).
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { envoyBootstrap } from '../../src/envoy/bootstrap.js';
import { NOT_STORED_OBJECT_PATHS_REGEX, STORED_OBJECT_PATHS_REGEX } from '../../src/envoy/routes.js';
import { splitPath } from '../../src/request/request-view.js';
import { storedObjectCall } from '../../src/request/stored-object-call.js';
import { re2FullMatch, routeFor, type RequestLine } from './route-match.js';

type Json = any; // parsed YAML, walked freely in the assertions
const read = (rel: string) => fs.readFileSync(fileURLToPath(new URL(`../../${rel}`, import.meta.url)), 'utf8');
const routesOfBootstrap = (bootstrap: Json): Json[] =>
  bootstrap.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts.flatMap((vh: Json) => vh.routes);
const SHIPPED = parseConfig(parse(read('deploy/example-config.yaml')));
const SHIPPED_ROUTES = routesOfBootstrap(parse(read('deploy/envoy.yaml')));
const OBJECT_ROUTES = ['create_conversation', 'stored_objects'];

/** What the processor does with a request (src/processor/request-processor.ts): route it as inference, as an object call, or pass it through. */
function processorDecision(config: Config, request: RequestLine): 'inference' | 'object' | 'pass' {
  const method = request.method.toUpperCase();
  const { path, query } = splitPath(request.path);
  if (config.routing.inferencePaths.includes(path) && method === 'POST') return 'inference';
  if (!config.routing.storedObjectCalls) return 'pass';
  return storedObjectCall({ method, path, query, headers: new Map(), endOfStream: true }) ? 'object' : 'pass';
}

/** The route Envoy takes agrees with the processor: its header exactly when the processor routes, a fixed cluster otherwise. */
function expectAgreement(config: Config, routes: Json[], request: RequestLine): void {
  const label = `${request.method} ${request.path}`;
  const route = routeFor(routes, request);
  expect(route, label).toBeDefined();
  const decision = processorDecision(config, request);
  if (decision === 'inference') expect(route.name, label).toBe('inference');
  else if (decision === 'object') {
    expect(OBJECT_ROUTES, label).toContain(route.name);
    expect(route.route.cluster_header, label).toBe(config.routing.clusterHeader);
  } else {
    expect(route.route.cluster_header, label).toBeUndefined();
    expect(route.route.cluster, label).toBeDefined();
  }
}

const METHODS = ['GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'HEAD', 'get', 'Delete'];
const OBJECT_PATHS = [
  '/v1/responses/resp_123', '/v1/responses/resp_123/', '/v1/responses/resp_123/input_items', '/v1/responses/resp_123/cancel',
  '/responses/resp_123', '/responses/resp_123/input_items', '/v1/conversations/conv_1', '/v1/conversations/conv_1/items',
  '/v1/conversations/conv_1/items/msg_1', '/v1/conversations/compact', `/v1/responses/${'a'.repeat(256)}`, '/v1/responses/A-z_0-9/x/.../..y/.z',
];
const NOT_OBJECT_PATHS = [
  '/v1/responsesX/1', '/v1/models', '/v1/responses', '/v1/responses/', '/v1/responses/compact', '/v1/responses/compact/x', '/responses/input_tokens',
  '/v1/responses/input_tokens/', `/v1/responses/${'a'.repeat(257)}`, '/v1/responses/a.b', '/v1/responses/a%62', '/v1/responses/a/%2e%2e', '/v1/responses/a//b',
  '/v1/responses/a/./b', '/v1/responses/a/../b', '/v1/responses/a/.', '/v1/responses/a/..', '/conversations/conv_1', '/V1/responses/resp_1',
  '/backend-api/codex/responses/resp_1', '/v1/conversationsX', '/v1/conversations//', '/x/v1/responses/resp_1', '/v1/responses/ü', '/v1/responses/a b',
];

/** A few thousand paths made of the pieces the rules turn on, from a fixed seed. */
function fuzzPaths(count: number): string[] {
  let seed = 0x5eed;
  const random = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const heads = ['/v1/responses/', '/responses/', '/v1/conversations/', '/v1/conversations', '/conversations/', '/v1/', '/', '/v1/responses'];
  const pieces = ['resp_1', 'conv-2', 'compact', 'input_tokens', 'items', 'cancel', '/', '.', '..', '%', '%2F', '_', '-', 'Z', '9', '?x=/a', 'ü', ' ', 'v1', 'responses'];
  return Array.from({ length: count }, () => {
    let path = pick(heads);
    const n = Math.floor(random() * 6);
    for (let i = 0; i < n; i += 1) path += pick(pieces);
    return path;
  });
}

describe('the generated routes send calls on stored objects by the processor\'s header', () => {
  it('deploy/envoy.yaml: each stored-object path takes a cluster_header route, the others a fixed cluster', () => {
    for (const path of OBJECT_PATHS) {
      for (const query of ['', '?stream=true', '?after=/v1/models']) {
        for (const method of ['GET', 'POST', 'DELETE']) {
          const route = routeFor(SHIPPED_ROUTES, { method, path: path + query });
          expect(route.name, `${method} ${path}${query}`).toBe('stored_objects');
          expect(route.route).toMatchObject({ cluster_header: 'x-codex-affinity-cluster', cluster_not_found_response_code: 'SERVICE_UNAVAILABLE', auto_host_rewrite: true });
        }
      }
    }
    for (const path of ['/v1/conversations', '/v1/conversations/', '/v1/conversations?x=1']) {
      expect(routeFor(SHIPPED_ROUTES, { method: 'POST', path }).name, path).toBe('create_conversation');
      expect(routeFor(SHIPPED_ROUTES, { method: 'GET', path }).name, path).toBe('default');
    }
    for (const path of NOT_OBJECT_PATHS) {
      for (const method of ['GET', 'DELETE']) expect(routeFor(SHIPPED_ROUTES, { method, path }).route.cluster, `${method} ${path}`).toBeDefined();
    }
    // Methods the processor does not route on these paths keep the default route.
    for (const method of ['PUT', 'PATCH', 'HEAD', 'OPTIONS']) expect(routeFor(SHIPPED_ROUTES, { method, path: '/v1/responses/resp_1' }).name).toBe('default');
    // POST on an inference path under /v1/responses/ is still the inference route.
    expect(routeFor(SHIPPED_ROUTES, { method: 'POST', path: '/v1/responses/compact' }).name).toBe('inference');
  });

  it('agrees with the processor on every method and path, hand-picked and fuzzed (deploy/envoy.yaml)', () => {
    const paths = [...OBJECT_PATHS, ...NOT_OBJECT_PATHS, ...fuzzPaths(3000)];
    let objectCalls = 0;
    for (const path of paths) {
      for (const method of METHODS) {
        expectAgreement(SHIPPED, SHIPPED_ROUTES, { method, path });
        if (processorDecision(SHIPPED, { method, path }) === 'object') objectCalls += 1;
      }
    }
    expect(objectCalls).toBeGreaterThan(500); // the fuzz reaches the routed side too
  });

  it('agrees with the processor for other configs: custom cluster header and inference paths, no ChatGPT account', () => {
    const config = parseConfig({
      accounts: [{ name: 'eu', cluster: 'acct-eu', upstream: { host: 'eu.example' } }, { name: 'us', cluster: 'acct-us', upstream: { host: 'us.example' } }],
      routing: { clusterHeader: 'x-route-to', inferencePaths: ['/v1/responses', '/v1/responses/resp_special'] },
    });
    const routes = routesOfBootstrap(envoyBootstrap(config));
    expect(routes.map((r) => r.name)).toEqual(['responses_websocket', 'inference', 'create_conversation', 'stored_objects', 'default']);
    for (const path of [...OBJECT_PATHS, ...NOT_OBJECT_PATHS, ...fuzzPaths(500)]) {
      for (const method of METHODS) expectAgreement(config, routes, { method, path });
    }
    expect(routeFor(routes, { method: 'GET', path: '/v1/responses/resp_1' }).route.cluster_header).toBe('x-route-to');
  });

  it('routing.storedObjectCalls: false: no stored-object routes, those calls keep the default route', () => {
    const config = parseConfig({ accounts: [{ name: 'a', cluster: 'a' }], routing: { storedObjectCalls: false } });
    const routes = routesOfBootstrap(envoyBootstrap(config));
    expect(routes.map((r) => r.name)).toEqual(['responses_websocket', 'inference', 'default']);
    for (const path of OBJECT_PATHS.slice(0, 4)) expectAgreement(config, routes, { method: 'GET', path });
  });

  it('the ext_proc filter sends these calls\' headers and buffers their bodies: no per-route override', () => {
    for (const route of SHIPPED_ROUTES.filter((r) => OBJECT_ROUTES.includes(r.name))) {
      expect(route.typed_per_filter_config, route.name).toBeUndefined();
      expect(route.route.retry_policy, route.name).toEqual({ retry_on: 'connect-failure', num_retries: 1 }); // a DELETE or cancel is not repeated after a reset
    }
  });
});

describe('the RE2 matcher of these tests', () => {
  it('reads the stored-object regexes as RE2 does, and refuses what it does not model', () => {
    expect(re2FullMatch(STORED_OBJECT_PATHS_REGEX, '/v1/responses/r/x')).toBe(true);
    expect(re2FullMatch(STORED_OBJECT_PATHS_REGEX, '/v1/responses/r//x')).toBe(false);
    expect(re2FullMatch(NOT_STORED_OBJECT_PATHS_REGEX, '/v1/responses/compact?x=1')).toBe(true);
    expect(re2FullMatch(NOT_STORED_OBJECT_PATHS_REGEX, '/v1/responses/compactX')).toBe(false);
    expect(re2FullMatch('(?i)^(GET)$', 'get')).toBe(true);
    expect(re2FullMatch('a.c', 'a\rc')).toBe(true); // RE2's . matches \r, JS's does not: translated
    expect(re2FullMatch('a.c', 'a\nc')).toBe(false);
    expect(re2FullMatch('[.]', '.')).toBe(true);
    for (const unsupported of ['(?=a)', '(?!a)', '(?<n>a)', '(a)\\1', '\\d', '(?s).', 'a(?i)b']) expect(() => re2FullMatch(unsupported, 'a'), unsupported).toThrow();
  });
});
