// Harness config: Envoy-shaped (snake_case, checked against the official protos shipped in
// @grpc/grpc-js-xds/deps), YAML accepted, validated with clear errors, Envoy defaults.
import path from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, ExtProcSchema, RouteSchema, parseConfig } from './config.js';
import { startEnvoy } from './envoy.js';
import { closeAll, request } from './fixtures.js';
import { startScriptedProcessor } from './scripted-processor.js';
import { startTestUpstream } from './test-upstream.js';

afterEach(closeAll);
const minimal = { route_config: { routes: [{ match: { prefix: '/' }, route: { cluster: 'c' } }] }, clusters: [{ name: 'c', endpoints: [] }] };

describe('harness config', () => {
  it('accepts a YAML snippet that reads like the Envoy config', async () => {
    const proc = await startScriptedProcessor();
    const up = await startTestUpstream({ name: 'acct-a' });
    const yaml = `
ext_proc:
  grpc_service: { target: "${proc.target}" }
  processing_mode:
    request_header_mode: SEND
    response_header_mode: SEND
    request_body_mode: BUFFERED
    response_body_mode: NONE
    request_trailer_mode: SKIP
    response_trailer_mode: SKIP
  failure_mode_allow: false
  message_timeout: 0.2s
  allow_mode_override: true
  status_on_error: { code: 500 }
  mutation_rules: { allow_envoy: true }
  metadata_options:
    receiving_namespaces: { untyped: [codex_affinity] }
route_config:
  routes:
  - match: { prefix: "/" }
    route:
      cluster_header: x-codex-affinity-cluster
      retry_policy: { retry_on: "5xx,reset,connect-failure", num_retries: 2, retry_host_predicate: [{ name: envoy.retry_host_predicates.previous_hosts }] }
clusters:
- name: openai-acct-a
  lb_policy: ROUND_ROBIN
  endpoints: [{ address: 127.0.0.1, port: ${up.port} }]
`;
    const envoy = await startEnvoy(yaml);
    try {
      const r = await request(envoy.url, { headers: { 'x-codex-affinity-cluster': 'openai-acct-a' }, body: '{}' });
      expect(r.status).toBe(200);
      expect(envoy.config.ext_proc!.message_timeout_ms).toBe(200);
      expect(proc.kinds()).toEqual([['request_headers', 'request_body', 'response_headers']]);
    } finally {
      await envoy.close();
      await proc.close();
      await up.close();
    }
  });

  it('fills Envoy defaults', () => {
    const c = parseConfig({ ...minimal, ext_proc: { grpc_service: { target: '127.0.0.1:1' } } });
    expect(c.ext_proc).toMatchObject({
      message_timeout_ms: 200, max_message_timeout_ms: 0, status_on_error: 500, failure_mode_allow: false, allow_mode_override: false,
      processing_mode: { request_header_mode: 'DEFAULT', request_body_mode: 'NONE', response_body_mode: 'NONE', request_trailer_mode: 'DEFAULT' },
      receiving_namespaces: [], filter_placement: 'downstream', route_cache_action: 'DEFAULT',
    });
    expect(c.cluster_not_found_response_code).toBe(503);
    expect(c.per_connection_buffer_limit_bytes).toBe(1024 * 1024);
    expect(c.stream_idle_timeout_ms).toBe(300_000);
  });

  it('rejects unknown keys and bad values with errors naming the path', () => {
    expect(() => parseConfig({ ...minimal, ext_proc: { grpc_service: { target: 'x' }, failure_mode_allowed: true } as any })).toThrow(/ext_proc.*failure_mode_allowed/s);
    expect(() => parseConfig({ ...minimal, ext_proc: { grpc_service: { target: 'x' }, processing_mode: { request_body_mode: 'BUFFER' } } as any })).toThrow(/ext_proc\.processing_mode\.request_body_mode/);
    expect(() => parseConfig({ ...minimal, clusters: [{ name: 'c', lb_policy: 'LEAST', endpoints: [] }] } as any)).toThrow(/clusters\.0\.lb_policy/);
    expect(() => parseConfig({ ...minimal, route_config: { routes: [{ match: { prefix: '/' }, route: { cluster: 'a', cluster_header: 'b' } }] } })).toThrow(/exactly one of cluster or cluster_header/);
    expect(() => parseConfig('clusters: [')).toThrow();
    expect(() => parseConfig({ ...minimal, clusters: [{ name: 'c', endpoints: [] }, { name: 'c', endpoints: [] }] })).toThrow(ConfigError);
  });

  it('uses the field names of the official protos (ext_proc.proto, mutation_rules.proto, route_components.proto)', () => {
    const deps = path.resolve('node_modules/@grpc/grpc-js-xds/deps');
    const def = protoLoader.loadSync(
      ['envoy/extensions/filters/http/ext_proc/v3/ext_proc.proto', 'envoy/config/route/v3/route_components.proto'],
      { keepCase: true, includeDirs: ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => path.join(deps, d)) },
    ) as any;
    const fields = (n: string) => new Set<string>(def[n].type.field.map((f: { name: string }) => f.name));
    // harness-only keys, and fields newer than the protos bundled in grpc-js-xds
    const harnessOnly = new Set(['message_timeout_ms', 'max_message_timeout_ms', 'filter_placement', 'status_on_error', 'send_body_without_waiting_for_header_response']);
    const ext = fields('envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor');
    for (const k of Object.keys(ExtProcSchema.shape)) if (!harnessOnly.has(k)) expect(ext, k).toContain(k);
    const mr = fields('envoy.config.common.mutation_rules.v3.HeaderMutationRules');
    for (const k of ['allow_all_routing', 'allow_envoy', 'disallow_system', 'disallow_all', 'disallow_is_error', 'allow_expression', 'disallow_expression']) expect(mr, k).toContain(k);
    const pm = fields('envoy.extensions.filters.http.ext_proc.v3.ProcessingMode');
    for (const k of ['request_header_mode', 'response_header_mode', 'request_body_mode', 'response_body_mode', 'request_trailer_mode', 'response_trailer_mode']) expect(pm, k).toContain(k);
    const ra = fields('envoy.config.route.v3.RouteAction');
    for (const k of ['cluster', 'cluster_header', 'timeout', 'retry_policy', 'hash_policy', 'upgrade_configs']) expect(ra, k).toContain(k);
    const rp = fields('envoy.config.route.v3.RetryPolicy');
    for (const k of ['retry_on', 'num_retries', 'retriable_status_codes', 'retry_host_predicate', 'host_selection_retry_max_attempts', 'retry_back_off']) expect(rp, k).toContain(k);
    const route = fields('envoy.config.route.v3.Route');
    for (const k of Object.keys(RouteSchema.shape)) expect(route, k).toContain(k);
    const per = fields('envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute');
    expect([...per]).toEqual(expect.arrayContaining(['disabled', 'overrides']));
  });
});
