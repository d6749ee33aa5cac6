import type { Config } from '../config/schema.js';
import { EnvoyConfigError } from './timeouts.js';

type Json = Record<string, unknown>;

/** Go's regexp.QuoteMeta (what the chart's regexQuoteMeta does), so both render the same regex. */
export function quoteRegex(text: string): string {
  return text.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
}

/** An RE2 full match of exactly these paths. */
export function exactPathsRegex(paths: readonly string[]): string {
  return `^(${paths.map(quoteRegex).join('|')})$`;
}

/** The cluster of non-inference calls: envoy.defaultCluster, else the first openai account's, else the first account's. */
export function defaultCluster(config: Config): string {
  return config.envoy.defaultCluster ?? config.accounts.find((account) => account.profile === 'openai')?.cluster ?? config.accounts[0]!.cluster;
}

/** The cluster of non-inference /backend-api/ calls: envoy.chatgptDefaultCluster, else the first chatgpt-codex account's, else none. */
export function chatgptDefaultCluster(config: Config): string | undefined {
  return config.envoy.chatgptDefaultCluster ?? config.accounts.find((account) => account.profile === 'chatgpt-codex')?.cluster;
}

const ALL_MODES_BUT_BODIES = { request_header_mode: 'SEND', response_header_mode: 'SEND' };

/** WebSocket upgrades to the Responses paths: their own route with the request body off (an upgraded stream never ends). */
function websocketRoute(config: Config, extProcFilterName: string): Json | undefined {
  const paths = config.routing.inferencePaths.filter((path) => path.endsWith('/responses'));
  if (paths.length === 0) return undefined;
  return {
    name: 'responses_websocket',
    match: {
      safe_regex: { regex: exactPathsRegex(paths) },
      headers: [{ name: 'upgrade', string_match: { exact: 'websocket', ignore_case: true } }],
    },
    route: {
      cluster_header: config.routing.clusterHeader,
      cluster_not_found_response_code: 'SERVICE_UNAVAILABLE',
      auto_host_rewrite: true,
      timeout: '0s',
      idle_timeout: '3600s',
      upgrade_configs: [{ upgrade_type: 'websocket' }],
    },
    typed_per_filter_config: {
      [extProcFilterName]: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute',
        overrides: {
          processing_mode: {
            ...ALL_MODES_BUT_BODIES,
            request_body_mode: 'NONE',
            response_body_mode: 'NONE',
            request_trailer_mode: 'SKIP',
            response_trailer_mode: 'SKIP',
          },
        },
      },
    },
  };
}

/**
 * The paths `storedObjectCall` (src/request/stored-object-call.ts) reads an object id from: an id
 * of 1 to 256 of [A-Za-z0-9_-] after /v1/responses/, /responses/ or /v1/conversations/, then
 * nothing, or segments without %, empty segments (//) or dot segments (. and ..). RE2, full match.
 */
export const STORED_OBJECT_PATHS_REGEX = '^/(v1/(responses|conversations)|responses)/[-0-9A-Z_a-z]{1,256}(/(\\.*[^/%.][^/%]*|\\.{3,}))*/?$';
/** Under /v1/responses/ and /responses/, compact and input_tokens are inference paths, not ids: matched on :path, query included. */
export const NOT_STORED_OBJECT_PATHS_REGEX = '^/(v1/)?responses/(compact|input_tokens)([/?].*)?$';
/** The methods `storedObjectCall` accepts (the processor passes the others through); it reads the method upper-cased. */
const STORED_OBJECT_METHODS_REGEX = '(?i)^(GET|POST|DELETE)$';
/** POST as the processor reads it (upper-cased): a route it routes must take its header whatever the case. */
const postOnly = (): Json[] => [{ name: ':method', string_match: { exact: 'POST', ignore_case: true } }];

/** Calls on stored objects: routed by the processor's header, like inference calls; no retry that could repeat a DELETE or a cancel. */
function objectRoute(config: Config, name: string, match: Json): Json {
  return {
    name,
    match,
    route: {
      cluster_header: config.routing.clusterHeader,
      cluster_not_found_response_code: 'SERVICE_UNAVAILABLE',
      auto_host_rewrite: true,
      // GET /v1/responses/{id}?stream=true streams a background response for as long as it runs.
      timeout: '0s',
      retry_policy: { retry_on: 'connect-failure', num_retries: 1 },
    },
  };
}

/** The routes of routing.storedObjectCalls: POST /v1/conversations, and GET, POST, DELETE on a stored response or conversation. */
export function storedObjectRoutes(config: Config): Json[] {
  if (!config.routing.storedObjectCalls) return [];
  return [
    objectRoute(config, 'create_conversation', {
      safe_regex: { regex: '^/v1/conversations/?$' },
      headers: postOnly(),
    }),
    objectRoute(config, 'stored_objects', {
      safe_regex: { regex: STORED_OBJECT_PATHS_REGEX },
      headers: [
        { name: ':method', string_match: { safe_regex: { regex: STORED_OBJECT_METHODS_REGEX } } },
        { name: ':path', string_match: { safe_regex: { regex: NOT_STORED_OBJECT_PATHS_REGEX } }, invert_match: true },
      ],
    }),
  ];
}

function fixedRoute(name: string, prefix: string, cluster: string): Json {
  return {
    name,
    match: { prefix },
    route: { cluster, auto_host_rewrite: true, timeout: '300s', retry_policy: { retry_on: 'connect-failure', num_retries: 1 } },
  };
}

/** The routes in the order Envoy tries them: WebSocket upgrades, inference calls, calls on stored objects, then fixed default clusters. */
export function routesOf(config: Config, extProcFilterName: string): Json[] {
  const clusters = new Set(config.accounts.map((account) => account.cluster));
  const fallback = defaultCluster(config);
  const chatgpt = chatgptDefaultCluster(config);
  for (const [key, cluster] of [['envoy.defaultCluster', fallback], ['envoy.chatgptDefaultCluster', chatgpt]] as const) {
    if (cluster !== undefined && !clusters.has(cluster)) throw new EnvoyConfigError(`${key}: "${cluster}" is not the cluster of any account`);
  }
  const inference: Json = {
    name: 'inference',
    match: {
      safe_regex: { regex: exactPathsRegex(config.routing.inferencePaths) },
      headers: postOnly(),
    },
    route: {
      cluster_header: config.routing.clusterHeader,
      cluster_not_found_response_code: 'SERVICE_UNAVAILABLE',
      auto_host_rewrite: true,
      timeout: '0s',
      retry_policy: { retry_on: 'connect-failure,reset,retriable-status-codes', retriable_status_codes: [502, 503], num_retries: 1 },
    },
  };
  const websocket = websocketRoute(config, extProcFilterName);
  return [
    ...(websocket ? [websocket] : []),
    inference,
    ...storedObjectRoutes(config),
    ...(chatgpt !== undefined ? [fixedRoute('default_chatgpt_codex', '/backend-api/', chatgpt)] : []),
    fixedRoute('default', '/', fallback),
  ];
}
