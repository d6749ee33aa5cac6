// The processor behind Envoy Gateway: an EnvoyExtensionPolicy attaches it to a Gateway, a
// ClientTrafficPolicy removes the headers clients must not send before any filter, one Backend
// per account, and an HTTPRoute that sends a request to the account whose cluster name the
// processor wrote into the cluster header (Envoy re-resolves the route after the processor's
// answer) and everything else to the fixed default accounts.
import type { AccountConfig, Config } from '../config/schema.js';
import { internalOnlyHeaders } from './edge-hygiene.js';
import { chatgptDefaultCluster, defaultCluster } from './routes.js';
import { EnvoyConfigError, messageTimeoutMilliseconds } from './timeouts.js';
import { upstreamOf } from './upstream.js';

type Json = Record<string, unknown>;

export interface EnvoyGatewayOptions {
  readonly gateway: string;
  readonly namespace: string;
  /** The processor's Service (in `namespace`); its gRPC port is the config's grpc.port. */
  readonly processorService: string;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function backendName(cluster: string): string {
  if (!DNS_SUBDOMAIN.test(cluster) || cluster.length > 253) {
    throw new EnvoyConfigError(`accounts: cluster "${cluster}" must be a DNS subdomain (lower-case letters, digits, - and .) to name an Envoy Gateway Backend`);
  }
  return cluster;
}

function backend(account: AccountConfig, namespace: string): Json {
  const upstream = upstreamOf(account);
  return {
    apiVersion: 'gateway.envoyproxy.io/v1alpha1',
    kind: 'Backend',
    metadata: { name: backendName(account.cluster), namespace },
    spec: {
      endpoints: [{ fqdn: { hostname: upstream.host, port: upstream.port } }],
      ...(upstream.tls ? { tls: { sni: upstream.host, wellKnownCACertificates: 'System' } } : {}),
    },
  };
}

/** A rule's backend, with the Host of the account's upstream (Envoy's auto_host_rewrite in a bootstrap). */
function toAccount(cluster: string, config: Config): Json {
  const upstream = upstreamOf(config.accounts.find((candidate) => candidate.cluster === cluster)!);
  return {
    backendRefs: [{ group: 'gateway.envoyproxy.io', kind: 'Backend', name: backendName(cluster), port: upstream.port }],
    filters: [{ type: 'URLRewrite', urlRewrite: { hostname: upstream.host } }],
  };
}

export function envoyGatewayResources(config: Config, options: EnvoyGatewayOptions): Json[] {
  const gatewayRef = { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: options.gateway };
  const metadata = (name: string) => ({ name, namespace: options.namespace });
  const chatgpt = chatgptDefaultCluster(config);
  return [
    {
      apiVersion: 'gateway.envoyproxy.io/v1alpha1',
      kind: 'EnvoyExtensionPolicy',
      metadata: metadata('codex-affinity'),
      spec: {
        targetRefs: [gatewayRef],
        extProc: [
          {
            backendRefs: [{ name: options.processorService, port: config.grpc.port }],
            processingMode: { allowModeOverride: true, request: { body: 'Buffered' }, response: {} },
            messageTimeout: `${messageTimeoutMilliseconds(config)}ms`,
            failOpen: false,
            metadata: { writableNamespaces: [config.routing.metadataNamespace] },
          },
        ],
      },
    },
    {
      apiVersion: 'gateway.envoyproxy.io/v1alpha1',
      kind: 'ClientTrafficPolicy',
      metadata: metadata('codex-affinity'),
      spec: {
        targetRefs: [gatewayRef],
        headers: { earlyRequestHeaders: { remove: internalOnlyHeaders(config), removeOnMatch: [{ type: 'Prefix', value: 'x-envoy-' }] } },
      },
    },
    ...config.accounts.map((account) => backend(account, options.namespace)),
    {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: metadata('codex-affinity'),
      spec: {
        parentRefs: [{ name: options.gateway }],
        rules: [
          // Streamed turns last minutes: no request timeout (Gateway API's "0s" turns it off).
          ...config.accounts.map((account) => ({
            matches: [{ headers: [{ type: 'Exact', name: config.routing.clusterHeader, value: account.cluster }] }],
            ...toAccount(account.cluster, config),
            timeouts: { request: '0s' },
          })),
          ...(chatgpt !== undefined ? [{ matches: [{ path: { type: 'PathPrefix', value: '/backend-api/' } }], ...toAccount(chatgpt, config), timeouts: { request: '300s' } }] : []),
          { matches: [{ path: { type: 'PathPrefix', value: '/' } }], ...toAccount(defaultCluster(config), config), timeouts: { request: '300s' } },
        ],
      },
    },
  ];
}
