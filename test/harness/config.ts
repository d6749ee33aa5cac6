// Harness configuration: an object (or YAML text) shaped like the relevant parts of an Envoy
// bootstrap, with Envoy's snake_case field names:
//  - ext_proc: envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor
//    (grpc_service, processing_mode, failure_mode_allow, message_timeout, max_message_timeout,
//    allow_mode_override, status_on_error, mutation_rules, metadata_options, route_cache_action)
//    plus `filter_placement` (downstream HCM filter, or upstream = cluster http_filters).
//  - route_config: envoy.config.route.v3.RouteConfiguration (flattened: one virtual host).
//  - clusters: envoy.config.cluster.v3.Cluster (name, lb_policy, endpoints flattened).
// Validated with zod (strict objects: a misspelt key is an error naming its path).
import { z } from 'zod';
import YAML from 'yaml';

const HeaderMode = z.enum(['DEFAULT', 'SEND', 'SKIP']);
const BodyMode = z.enum(['NONE', 'STREAMED', 'BUFFERED', 'BUFFERED_PARTIAL']);

export const ProcessingModeSchema = z.strictObject({
  request_header_mode: HeaderMode.optional(),
  response_header_mode: HeaderMode.optional(),
  request_body_mode: BodyMode.optional(),
  response_body_mode: BodyMode.optional(),
  request_trailer_mode: HeaderMode.optional(),
  response_trailer_mode: HeaderMode.optional(),
});

/** Envoy Duration in YAML is a string like "0.2s"; we also accept "200ms" and plain ms numbers. */
const Duration = z.union([
  z.number().nonnegative(),
  z.string().regex(/^\d+(\.\d+)?(s|ms)$/, 'duration like "0.2s" or "200ms"'),
]);
function durationMs(d: number | string | undefined): number | undefined {
  if (d === undefined) return undefined;
  if (typeof d === 'number') return d;
  return d.endsWith('ms') ? Number(d.slice(0, -2)) : Math.round(Number(d.slice(0, -1)) * 1000);
}
/** HttpStatus in Envoy YAML is `{code: 500}`; a bare number is accepted too. */
const HttpStatus = z.union([
  z.number().int().min(100).max(599),
  z.strictObject({ code: z.number().int().min(100).max(599) }),
]);

const Namespaces = z.strictObject({ untyped: z.array(z.string()).optional() });

export const ExtProcSchema = z.strictObject({
  grpc_service: z.strictObject({
    target: z.string().min(1),
    timeout: Duration.optional(),
  }),
  processing_mode: ProcessingModeSchema.optional(),
  failure_mode_allow: z.boolean().optional(),
  message_timeout: Duration.optional(),
  message_timeout_ms: z.number().nonnegative().optional(),
  max_message_timeout: Duration.optional(),
  max_message_timeout_ms: z.number().nonnegative().optional(),
  allow_mode_override: z.boolean().optional(),
  status_on_error: HttpStatus.optional(),
  mutation_rules: z
    .strictObject({
      allow_all_routing: z.boolean().optional(),
      allow_envoy: z.boolean().optional(),
      disallow_system: z.boolean().optional(),
      disallow_all: z.boolean().optional(),
      disallow_is_error: z.boolean().optional(),
      allow_expression: z.string().optional(),
      disallow_expression: z.string().optional(),
    })
    .optional(),
  metadata_options: z
    .strictObject({
      forwarding_namespaces: Namespaces.optional(),
      receiving_namespaces: Namespaces.optional(),
    })
    .optional(),
  route_cache_action: z.enum(['DEFAULT', 'CLEAR', 'RETAIN']).optional(),
  send_body_without_waiting_for_header_response: z.literal(false).optional(),
  filter_placement: z.enum(['downstream', 'upstream']).optional(),
});

/** RE2, full match (run as a JS RegExp by ../deploy/route-match.ts, which refuses what the two read differently). */
const SafeRegex = z.strictObject({ regex: z.string() });
const StringMatch = z.strictObject({
  exact: z.string().optional(),
  safe_regex: SafeRegex.optional(),
  prefix: z.string().optional(),
  suffix: z.string().optional(),
  contains: z.string().optional(),
  ignore_case: z.boolean().optional(),
});
const HeaderMatcher = z.strictObject({
  name: z.string().min(1),
  exact_match: z.string().optional(),
  string_match: StringMatch.optional(),
  present_match: z.boolean().optional(),
  invert_match: z.boolean().optional(),
});

const RetryPolicy = z.strictObject({
  retry_on: z.string().optional(),
  num_retries: z.number().int().nonnegative().optional(),
  retriable_status_codes: z.array(z.number().int()).optional(),
  retry_host_predicate: z
    .array(z.union([z.string(), z.strictObject({ name: z.string() })]))
    .optional(),
  host_selection_retry_max_attempts: z.number().int().nonnegative().optional(),
  retry_back_off: z
    .strictObject({ base_interval: Duration.optional(), max_interval: Duration.optional() })
    .optional(),
});

const PerRouteExtProc = z.strictObject({
  disabled: z.boolean().optional(),
  overrides: z.strictObject({ processing_mode: ProcessingModeSchema.optional() }).optional(),
});

export const RouteSchema = z.strictObject({
  name: z.string().optional(),
  match: z.strictObject({
    prefix: z.string().optional(),
    path: z.string().optional(),
    /** against the path without the query string */
    safe_regex: SafeRegex.optional(),
    headers: z.array(HeaderMatcher).optional(),
    /** harness shorthand for a header matcher on `upgrade` (case-insensitive). */
    upgrade: z.string().optional(),
  }),
  route: z
    .strictObject({
      cluster: z.string().optional(),
      cluster_header: z.string().optional(),
      timeout: Duration.optional(),
      retry_policy: RetryPolicy.optional(),
      hash_policy: z
        .array(z.strictObject({ header: z.strictObject({ header_name: z.string() }) }))
        .optional(),
      upgrade_configs: z
        .array(z.strictObject({ upgrade_type: z.string(), enabled: z.boolean().optional() }))
        .optional(),
    })
    .refine((r) => (r.cluster === undefined) !== (r.cluster_header === undefined), {
      message: 'exactly one of cluster or cluster_header is required',
    }),
  typed_per_filter_config: z
    .strictObject({
      ext_proc: PerRouteExtProc.optional(),
      'envoy.filters.http.ext_proc': PerRouteExtProc.optional(),
    })
    .optional(),
});

const ClusterSchema = z.strictObject({
  name: z.string().min(1),
  lb_policy: z.enum(['ROUND_ROBIN', 'RING_HASH', 'RANDOM']).optional(),
  endpoints: z.array(z.strictObject({ address: z.string(), port: z.number().int().min(1).max(65535) })),
  ring_hash_lb_config: z.strictObject({ minimum_ring_size: z.number().int().positive().optional() }).optional(),
});

export const EnvoyConfigSchema = z.strictObject({
  ext_proc: ExtProcSchema.optional(),
  route_config: z.strictObject({
    cluster_not_found_response_code: z
      .union([z.enum(['SERVICE_UNAVAILABLE', 'NOT_FOUND', 'INTERNAL_SERVER_ERROR']), z.literal(503), z.literal(404), z.literal(500)])
      .optional(),
    routes: z.array(RouteSchema).min(1),
  }),
  clusters: z.array(ClusterSchema),
  per_connection_buffer_limit_bytes: z.number().int().positive().optional(),
  /** HCM stream_idle_timeout (Envoy default 300s). */
  stream_idle_timeout: Duration.optional(),
  stream_idle_timeout_ms: z.number().nonnegative().optional(),
  /** HCM upgrade_configs. */
  upgrade_configs: z.array(z.strictObject({ upgrade_type: z.string() })).optional(),
  /** Listener port (0 = chosen by the OS). */
  port: z.number().int().min(0).optional(),
});

export type EnvoyConfigInput = z.input<typeof EnvoyConfigSchema>;
export type RouteConfig = z.output<typeof RouteSchema>;
export type ClusterConfig = z.output<typeof ClusterSchema>;
export type ProcessingMode = z.output<typeof ProcessingModeSchema>;

/** Normalised config with Envoy's defaults filled in. */
export interface ResolvedExtProc {
  target: string;
  processing_mode: Required<ProcessingMode>;
  failure_mode_allow: boolean;
  message_timeout_ms: number;
  max_message_timeout_ms: number;
  allow_mode_override: boolean;
  status_on_error: number;
  mutation_rules: NonNullable<z.output<typeof ExtProcSchema>['mutation_rules']>;
  forwarding_namespaces: string[];
  receiving_namespaces: string[];
  route_cache_action: 'DEFAULT' | 'CLEAR' | 'RETAIN';
  filter_placement: 'downstream' | 'upstream';
}
export interface ResolvedConfig {
  ext_proc?: ResolvedExtProc;
  routes: RouteConfig[];
  cluster_not_found_response_code: number;
  clusters: ClusterConfig[];
  per_connection_buffer_limit_bytes: number;
  stream_idle_timeout_ms: number;
  upgrade_types: string[];
  port: number;
}

export class ConfigError extends Error {}

/** Parses and validates a config object or YAML text; throws ConfigError naming the bad keys. */
export function parseConfig(input: EnvoyConfigInput | string): ResolvedConfig {
  const raw = typeof input === 'string' ? YAML.parse(input) : input;
  const parsed = EnvoyConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '<root>'}: ${i.message}`);
    throw new ConfigError(`invalid harness config:\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  const names = new Set<string>();
  for (const cl of c.clusters) {
    if (names.has(cl.name)) throw new ConfigError(`invalid harness config:\n  clusters: duplicate cluster name ${cl.name}`);
    names.add(cl.name);
  }
  const cnf = c.route_config.cluster_not_found_response_code;
  const cnfCode = cnf === undefined || cnf === 'SERVICE_UNAVAILABLE' ? 503 : cnf === 'NOT_FOUND' ? 404 : cnf === 'INTERNAL_SERVER_ERROR' ? 500 : cnf;
  let ext: ResolvedExtProc | undefined;
  if (c.ext_proc) {
    const e = c.ext_proc;
    const pm = e.processing_mode ?? {};
    const soe = e.status_on_error;
    ext = {
      target: e.grpc_service.target,
      // ProcessingMode defaults (processing_mode.proto): headers SEND, bodies NONE, trailers SKIP.
      processing_mode: {
        request_header_mode: pm.request_header_mode ?? 'DEFAULT',
        response_header_mode: pm.response_header_mode ?? 'DEFAULT',
        request_body_mode: pm.request_body_mode ?? 'NONE',
        response_body_mode: pm.response_body_mode ?? 'NONE',
        request_trailer_mode: pm.request_trailer_mode ?? 'DEFAULT',
        response_trailer_mode: pm.response_trailer_mode ?? 'DEFAULT',
      },
      failure_mode_allow: e.failure_mode_allow ?? false,
      // ext_proc.proto: message_timeout defaults to 200ms; max_message_timeout 0 disables overrides.
      message_timeout_ms: e.message_timeout_ms ?? durationMs(e.message_timeout) ?? 200,
      max_message_timeout_ms: e.max_message_timeout_ms ?? durationMs(e.max_message_timeout) ?? 0,
      allow_mode_override: e.allow_mode_override ?? false,
      status_on_error: soe === undefined ? 500 : typeof soe === 'number' ? soe : soe.code,
      mutation_rules: e.mutation_rules ?? {},
      forwarding_namespaces: e.metadata_options?.forwarding_namespaces?.untyped ?? [],
      receiving_namespaces: e.metadata_options?.receiving_namespaces?.untyped ?? [],
      route_cache_action: e.route_cache_action ?? 'DEFAULT',
      filter_placement: e.filter_placement ?? 'downstream',
    };
  }
  return {
    ext_proc: ext,
    routes: c.route_config.routes,
    cluster_not_found_response_code: cnfCode,
    clusters: c.clusters,
    // Envoy's default per-connection buffer limit is 1 MiB.
    per_connection_buffer_limit_bytes: c.per_connection_buffer_limit_bytes ?? 1024 * 1024,
    stream_idle_timeout_ms: c.stream_idle_timeout_ms ?? durationMs(c.stream_idle_timeout) ?? 300_000,
    upgrade_types: (c.upgrade_configs ?? []).map((u) => u.upgrade_type.toLowerCase()),
    port: c.port ?? 0,
  };
}

export { durationMs };
