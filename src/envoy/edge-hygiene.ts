import type { Config } from '../config/schema.js';

/**
 * The x-envoy-* request headers Envoy's router obeys (retries, timeouts, hedging, stats names)
 * or copies into logs and traces. A client that could send them would steer retries onto
 * other hosts or past the retry guard, so the edge removes them before any filter runs; the
 * processor may still set x-envoy-max-retries afterwards (mutation_rules.allow_envoy).
 * Not listed: x-envoy-internal and x-envoy-external-address, which Envoy itself sets from the
 * connection before the filters (and strips when a client forges them on an external request).
 */
export const ENVOY_CONTROL_HEADERS = [
  'x-envoy-max-retries',
  'x-envoy-retry-on',
  'x-envoy-retry-grpc-on',
  'x-envoy-retriable-status-codes',
  'x-envoy-retriable-header-names',
  'x-envoy-upstream-rq-timeout-ms',
  'x-envoy-upstream-rq-per-try-timeout-ms',
  'x-envoy-upstream-rq-timeout-alt-response',
  'x-envoy-expected-rq-timeout-ms',
  'x-envoy-hedge-on-per-try-timeout',
  'x-envoy-is-timeout-retry',
  'x-envoy-upstream-alt-stat-name',
  'x-envoy-upstream-stream-duration-ms',
  'x-envoy-force-trace',
  'x-envoy-ip-tags',
  'x-envoy-original-url',
  'x-envoy-original-path',
  'x-envoy-decorator-operation',
  'x-envoy-downstream-service-cluster',
  'x-envoy-downstream-service-node',
] as const;

/**
 * Headers only Envoy and the processor may set: the cluster header (the route reads it), the
 * pool and principal headers (the operator's authn filter sets them, after this removal).
 */
export function internalOnlyHeaders(config: Config): string[] {
  const { clusterHeader, poolHeader, principalHeader } = config.routing;
  return [clusterHeader, poolHeader, principalHeader].filter((name): name is string => name !== undefined);
}

/** Every request header the edge removes from what a client sent, in order. */
export function headersRemovedAtEdge(config: Config): string[] {
  return [...new Set([...internalOnlyHeaders(config), ...ENVOY_CONTROL_HEADERS])];
}

/** The name of the first HTTP filter; the operator's authn filter goes right after it. */
export const EDGE_HYGIENE_FILTER = 'codex_affinity.edge_hygiene';

/** The HTTP filter that removes client-sent copies of those headers before every other filter. */
export function edgeHygieneFilter(config: Config): Record<string, unknown> {
  return {
    name: EDGE_HYGIENE_FILTER,
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation',
      mutations: { request_mutations: headersRemovedAtEdge(config).map((name) => ({ remove: name })) },
    },
  };
}
