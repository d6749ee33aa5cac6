import type { AccountConfig, Config } from '../config/schema.js';
import { EnvoyConfigError } from './timeouts.js';
import { upstreamOf } from './upstream.js';

type Json = Record<string, unknown>;

export const PROCESSOR_CLUSTER = 'codex-affinity';

const endpointAt = (cluster: string, address: string, port: number): Json => ({
  cluster_name: cluster,
  endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address, port_value: port } } } }] }],
});

/**
 * The address Envoy dials for the processor. Envoy runs in the processor's pod, so only
 * loopback: a wildcard listen address is reached on loopback, anything else is refused.
 */
export function processorAddress(config: Config): string {
  const host = config.grpc.host;
  if (['0.0.0.0', '127.0.0.1', 'localhost'].includes(host)) return '127.0.0.1';
  if (['::', '::1', '[::]', '[::1]'].includes(host)) return '::1';
  throw new EnvoyConfigError(`grpc.host: Envoy reaches the processor over loopback in its own pod; "${host}" is neither a loopback nor a wildcard address`);
}

/**
 * The processor's gRPC cluster: on loopback in the pod (STATIC), or, for a mesh gateway that
 * reaches a processor Service, by DNS name (STRICT_DNS).
 */
export function processorCluster(config: Config, at: { host: string; port: number } = { host: processorAddress(config), port: config.grpc.port }): Json {
  const byName = /[a-z]/i.test(at.host) && !at.host.includes(':');
  return {
    name: PROCESSOR_CLUSTER,
    type: byName ? 'STRICT_DNS' : 'STATIC',
    connect_timeout: '0.25s',
    load_assignment: endpointAt(PROCESSOR_CLUSTER, at.host, at.port),
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        explicit_http_config: { http2_protocol_options: {} },
      },
    },
    // Every downstream request opens one gRPC stream; Envoy's default circuit breaker (1024)
    // would fail requests with 500 under load.
    circuit_breakers: { thresholds: [{ priority: 'DEFAULT', max_requests: 8192, max_pending_requests: 8192 }] },
  };
}

/** One cluster per account, named accounts[].cluster: Envoy's retries then never change account. */
export function accountCluster(account: AccountConfig): Json {
  const upstream = upstreamOf(account);
  return {
    name: account.cluster,
    type: 'LOGICAL_DNS',
    dns_lookup_family: 'V4_PREFERRED',
    connect_timeout: '5s',
    load_assignment: endpointAt(account.cluster, upstream.host, upstream.port),
    ...(upstream.tls
      ? {
          transport_socket: {
            name: 'envoy.transport_sockets.tls',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
              sni: upstream.host,
              common_tls_context: {
                // Without validation_context Envoy would accept any certificate.
                validation_context: {
                  trusted_ca: { filename: '/etc/ssl/certs/ca-certificates.crt' },
                  match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: upstream.host } }],
                },
              },
            },
          },
        }
      : {}),
  };
}

export function clustersOf(config: Config): Json[] {
  return [processorCluster(config), ...config.accounts.map(accountCluster)];
}
