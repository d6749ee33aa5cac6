// The processor behind an Istio gateway or sidecar instead of an Envoy of its own: one
// EnvoyFilter that adds the same pieces `envoy-config` puts in a bootstrap (the edge hygiene
// filter first, the ext_proc filter before the router, the routes that take the processor's
// cluster header (WebSocket, inference, stored objects), the processor's cluster and one
// cluster per account), so accounts are still declared once, in the processor config.
import type { Config } from '../config/schema.js';
import { extProcFilter } from './bootstrap.js';
import { accountCluster, processorCluster } from './clusters.js';
import { edgeHygieneFilter } from './edge-hygiene.js';
import { routesOf } from './routes.js';

type Json = Record<string, unknown>;

export interface IstioOptions {
  /** Where the gateway's Envoy reaches the processor (a Service's DNS name, or loopback for a processor container in the same pod). */
  readonly processor: { readonly host: string; readonly port: number };
  /** GATEWAY: an ingress gateway; SIDECAR_INBOUND: the sidecar of the workload clients call. */
  readonly context: 'GATEWAY' | 'SIDECAR_INBOUND';
  /** The pods whose Envoy gets the patches. */
  readonly selector: Record<string, string>;
  readonly namespace: string;
  /** The port of the gateway server (or the inbound port) whose routes get the inference routes. */
  readonly port: number;
}

const CONNECTION_MANAGER = 'envoy.filters.network.http_connection_manager';

export function istioEnvoyFilter(config: Config, options: IstioOptions): Json {
  const context = options.context;
  const onConnectionManager = { context, listener: { filterChain: { filter: { name: CONNECTION_MANAGER } } } };
  // The routes that take the processor's header (WebSocket upgrades, inference calls, calls on
  // stored objects), not the bootstrap's fixed defaults: the gateway keeps its own routes.
  const headerRoutes = routesOf(config, 'envoy.filters.http.ext_proc').filter((route) => (route.route as Json | undefined)?.cluster_header !== undefined);
  // INSERT_FIRST patches apply in order, each before the previous: the last route first, so
  // they end up in the bootstrap's order.
  const routePatches = headerRoutes.reverse().map((route) => ({
    applyTo: 'HTTP_ROUTE',
    match: { context, routeConfiguration: { portNumber: options.port } },
    patch: { operation: 'INSERT_FIRST', value: route },
  }));
  return {
    apiVersion: 'networking.istio.io/v1alpha3',
    kind: 'EnvoyFilter',
    metadata: { name: 'codex-affinity', namespace: options.namespace },
    spec: {
      workloadSelector: { labels: options.selector },
      configPatches: [
        { applyTo: 'CLUSTER', match: { context }, patch: { operation: 'ADD', value: processorCluster(config, options.processor) } },
        ...config.accounts.map((account) => ({ applyTo: 'CLUSTER', match: { context }, patch: { operation: 'ADD', value: accountCluster(account) } })),
        { applyTo: 'HTTP_FILTER', match: onConnectionManager, patch: { operation: 'INSERT_FIRST', value: edgeHygieneFilter(config) } },
        {
          applyTo: 'HTTP_FILTER',
          match: { context, listener: { filterChain: { filter: { name: CONNECTION_MANAGER, subFilter: { name: 'envoy.filters.http.router' } } } } },
          patch: { operation: 'INSERT_BEFORE', value: extProcFilter(config) },
        },
        ...routePatches,
      ],
    },
  };
}
