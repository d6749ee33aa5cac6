// The Envoy bootstrap for the processor's pod, made from the processor's own config, so
// accounts, the cluster header, the inference paths and the metadata namespace are declared
// once (`codex-affinity envoy-config --config FILE`). deploy/envoy.yaml, deploy/kubernetes/
// and the chart's template are proven equal to this output in test/deploy/.
import { stringify } from 'yaml';
import type { Config } from '../config/schema.js';
import { clustersOf, PROCESSOR_CLUSTER } from './clusters.js';
import { edgeHygieneFilter, internalOnlyHeaders } from './edge-hygiene.js';
import { routesOf } from './routes.js';
import { messageTimeoutMilliseconds, protoDuration } from './timeouts.js';

type Json = Record<string, unknown>;

export const EXT_PROC_FILTER = 'envoy.filters.http.ext_proc';
const ACCESS_LOG_FIELDS = ['account', 'domain', 'strength', 'source', 'outcome'] as const;

function accessLog(namespace: string): Json {
  return {
    name: 'envoy.access_loggers.stdout',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog',
      log_format: {
        json_format: {
          start_time: '%START_TIME%',
          method: '%REQ(:METHOD)%',
          path: '%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%',
          protocol: '%PROTOCOL%',
          response_code: '%RESPONSE_CODE%',
          response_code_details: '%RESPONSE_CODE_DETAILS%',
          response_flags: '%RESPONSE_FLAGS%',
          upstream_cluster: '%UPSTREAM_CLUSTER%',
          upstream_host: '%UPSTREAM_HOST%',
          upstream_failure: '%UPSTREAM_TRANSPORT_FAILURE_REASON%',
          request_attempts: '%UPSTREAM_REQUEST_ATTEMPT_COUNT%',
          duration_ms: '%DURATION%',
          bytes_received: '%BYTES_RECEIVED%',
          bytes_sent: '%BYTES_SENT%',
          request_id: '%REQ(X-REQUEST-ID)%',
          // The processor's dynamic metadata: no credential, session id or turn-state token.
          ...Object.fromEntries(ACCESS_LOG_FIELDS.map((field) => [`affinity_${field}`, `%DYNAMIC_METADATA(${namespace}:${field})%`])),
        },
      },
    },
  };
}

/** The ext_proc filter, calling the processor through the cluster `processorCluster`. */
export function extProcFilter(config: Config, processorCluster = PROCESSOR_CLUSTER): Json {
  return {
    name: EXT_PROC_FILTER,
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor',
      stat_prefix: 'codex_affinity',
      grpc_service: { envoy_grpc: { cluster_name: processorCluster } },
      processing_mode: {
        request_header_mode: 'SEND',
        response_header_mode: 'SEND',
        request_body_mode: 'BUFFERED',
        response_body_mode: 'NONE',
        request_trailer_mode: 'SKIP',
        response_trailer_mode: 'SKIP',
      },
      allow_mode_override: true,
      failure_mode_allow: false,
      message_timeout: protoDuration(messageTimeoutMilliseconds(config)),
      // x-envoy-* mutations are dropped unless allowed; only the retry guard sets one.
      ...(config.routing.retryGuard ? { mutation_rules: { allow_envoy: true } } : {}),
      metadata_options: { receiving_namespaces: { untyped: [config.routing.metadataNamespace] } },
    },
  };
}

function cidrRange(cidr: string): Json {
  const [address, length] = cidr.split('/');
  return { address_prefix: address, prefix_len: Number(length) };
}

function connectionManager(config: Config): Json {
  return {
    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
    stat_prefix: 'codex_ingress',
    codec_type: 'AUTO',
    normalize_path: true,
    merge_slashes: true,
    stream_idle_timeout: protoDuration(config.envoy.streamIdleTimeout),
    // The client is whoever connected: requests from outside the internal addresses are
    // external, so Envoy strips their x-envoy-* control headers and internal_only_headers.
    use_remote_address: true,
    internal_address_config: { cidr_ranges: config.envoy.internalAddresses.map(cidrRange) },
    access_log: [accessLog(config.routing.metadataNamespace)],
    http_filters: [
      edgeHygieneFilter(config),
      extProcFilter(config),
      { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } },
    ],
    route_config: {
      name: 'codex_affinity',
      internal_only_headers: internalOnlyHeaders(config),
      virtual_hosts: [{ name: 'codex', domains: ['*'], routes: routesOf(config, EXT_PROC_FILTER) }],
    },
  };
}

export const ADMIN_CLUSTER = 'envoy_admin';

/** The gRPC health service the processor serves; the kubelet's gRPC probe asks for it. */
export const HEALTH_CHECK_PATH = '/grpc.health.v1.Health/Check';

/**
 * The kubelet cannot reach loopback. This listener passes exactly two requests: GET /ready to
 * Envoy's admin port (LIVE: 200, else 503) and the gRPC health check to the processor (the
 * kubelet's gRPC probe, HTTP/2 without TLS), and answers 404 to everything else.
 */
function readinessListener(port: number): Json {
  return {
    name: 'envoy_readiness',
    address: { socket_address: { address: '0.0.0.0', port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              stat_prefix: 'envoy_readiness',
              http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
              route_config: {
                name: 'envoy_readiness',
                virtual_hosts: [
                  {
                    name: 'readiness',
                    domains: ['*'],
                    routes: [
                      { match: { path: '/ready', headers: [{ name: ':method', string_match: { exact: 'GET' } }] }, route: { cluster: ADMIN_CLUSTER, timeout: '2s' } },
                      { match: { path: HEALTH_CHECK_PATH, grpc: {} }, route: { cluster: PROCESSOR_CLUSTER, timeout: '2s' } },
                      { match: { prefix: '/' }, direct_response: { status: 404 } },
                    ],
                  },
                ],
              },
            },
          },
        ],
      },
    ],
  };
}

function adminCluster(config: Config): Json {
  return {
    name: ADMIN_CLUSTER,
    type: 'STATIC',
    connect_timeout: '0.25s',
    load_assignment: {
      cluster_name: ADMIN_CLUSTER,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: config.envoy.adminPort } } } }] }],
    },
  };
}

/**
 * Envoy refuses a regex whose RE2 program is larger than re2.max_program_size.error_level,
 * 100 unless the runtime says otherwise: the inference paths' alternation and the stored-object
 * paths' id of up to 256 characters are larger. Istio's gateways run with the same limit.
 */
export const RE2_MAX_PROGRAM_SIZE = 32768;

/** The Envoy v3 bootstrap (static resources) for this processor config, as a plain object. */
export function envoyBootstrap(config: Config): Json {
  const readinessPort = config.envoy.readinessPort;
  return {
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: config.envoy.adminPort } } },
    layered_runtime: { layers: [{ name: 'static', static_layer: { 're2.max_program_size.error_level': RE2_MAX_PROGRAM_SIZE } }] },
    static_resources: {
      listeners: [
        {
          name: 'codex_ingress',
          address: { socket_address: { address: '0.0.0.0', port_value: config.envoy.listenerPort } },
          per_connection_buffer_limit_bytes: config.envoy.bufferLimitBytes,
          filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: connectionManager(config) }] }],
        },
        ...(readinessPort !== undefined ? [readinessListener(readinessPort)] : []),
      ],
      clusters: [...clustersOf(config), ...(readinessPort !== undefined ? [adminCluster(config)] : [])],
    },
  };
}

/** The bootstrap as YAML, with a header saying where it came from. */
export function envoyBootstrapYaml(config: Config, source: string): string {
  return `# Envoy bootstrap generated by \`codex-affinity envoy-config --config ${source}\`. Do not edit:\n# change the processor config and generate again.\n${stringify(envoyBootstrap(config), { lineWidth: 0 })}`;
}
