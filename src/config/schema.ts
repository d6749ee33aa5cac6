import { z } from 'zod';
import { balanceOverrideSchema, balanceSchema } from './balance-schema.js';
import { duration } from './duration.js';

const port = z.number().int().min(0).max(65535);
const headerName = z
  .string()
  .regex(/^[a-z0-9!#$%&'*+.^_`|~-]+$/, 'must be a lower-case HTTP header name');

export const PROFILES = ['openai', 'chatgpt-codex'] as const;

/** Where a secret comes from: a file (a mounted Kubernetes Secret, re-read on change) or an environment variable. */
const secretSource = z.union([
  z.strictObject({ file: z.string().min(1) }),
  z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name') }),
]);

const credentialSchema = z.union([
  z.strictObject({ apiKey: secretSource }),
  z.strictObject({ chatgpt: z.strictObject({ accessToken: secretSource, accountId: secretSource }) }),
]);

const jsonScalar = z.union([z.boolean(), z.string(), z.number(), z.null()]);

const rewriteOverrideSchema = z.strictObject({
  /** Body fields forced to a value (merged over the profile's). */
  force: z.record(z.string(), jsonScalar).optional(),
  /** Extra body fields to remove. */
  remove: z.array(z.string()).optional(),
  /** Fields the profile removes that this account keeps. */
  keep: z.array(z.string()).optional(),
  /** Instructions injected when missing or empty; null turns injection off. */
  defaultInstructions: z.string().min(1).nullable().optional(),
  /** Request path → upstream path (merged over the profile's). */
  paths: z.record(z.string().startsWith('/'), z.string().startsWith('/')).optional(),
});

const accountSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - only (1-64)'),
  cluster: z.string().min(1).max(255),
  profile: z.enum(PROFILES).default('openai'),
  weight: z.number().positive().max(1000).default(1),
  /** Accounts that can read each other's state; defaults to the account alone. */
  domain: z.string().min(1).max(128).optional(),
  /** The upstream credential; when unset, credentials are Envoy's business. */
  credential: credentialSchema.optional(),
  /** Per-account overrides of the profile's rewrite rules. */
  rewrite: rewriteOverrideSchema.optional(),
  /**
   * Where Envoy sends this account's requests (`codex-affinity envoy-config`); the processor
   * itself never connects upstream. Defaults to the profile's public host over TLS.
   */
  upstream: z
    .strictObject({
      host: z.string().regex(/^[A-Za-z0-9.-]{1,253}$/, 'a DNS name or IPv4 address'),
      port: port.default(443),
      tls: z.boolean().default(true),
    })
    .optional(),
});

/**
 * Who may use a pool's accounts, and what a stored reference the store never
 * learned for this principal gets. Unset: strict where the pool injects
 * credentials (the client then borrows ours), lenient where clients bring their own.
 */
const tenancySchema = z.strictObject({
  /** Requests with no principal (no principal header, no client credential). */
  anonymous: z.enum(['refuse', 'allow']).optional(),
  /**
   * A previous_response_id, item_reference or conversation this principal never
   * stored here: `refuse` answers 404; `place` guesses an account (orphan placement).
   */
  unknownStoredReferences: z.enum(['refuse', 'place']).optional(),
  /**
   * WebSocket sessions (Responses over WebSocket): their frames, and the
   * references they carry, pass out of the processor's sight.
   */
  websockets: z.enum(['refuse', 'allow']).optional(),
});

const poolSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/),
  accounts: z.array(z.string()).min(1),
  tenancy: tenancySchema.optional(),
  /** This pool's balance settings, merged over the top-level `balance`. */
  balance: balanceOverrideSchema.optional(),
});

const storeSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('memory'),
    maxEntries: z.number().int().positive().default(200_000),
    /** One principal's share: past it, its own entries make room (default: half of maxEntries). */
    maxEntriesPerPrincipal: z.number().int().positive().optional(),
  }),
  z.strictObject({
    kind: z.literal('redis'),
    /** Standalone: redis://host:port/db, or rediss:// for TLS. */
    url: z.string().regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL').optional(),
    /** Cluster: seed nodes as host:port. */
    nodes: z.array(z.string().regex(/^[^\s:]+:\d+$/, 'host:port')).min(1).optional(),
    /** Sentinel: sentinels as host:port, and the monitored master's name. */
    sentinels: z.array(z.string().regex(/^[^\s:]+:\d+$/, 'host:port')).min(1).optional(),
    name: z.string().min(1).optional(),
    /** TLS for nodes and sentinels (a rediss:// URL implies it). */
    tls: z.boolean().default(false),
    /** PEM bundle of the CA that signed Redis's certificate (a private CA); the system CAs otherwise. */
    tlsCaFile: z.string().min(1).optional(),
    username: secretSource.optional(),
    password: secretSource.optional(),
    /** Credentials of the sentinels themselves, when they require their own. */
    sentinelUsername: secretSource.optional(),
    sentinelPassword: secretSource.optional(),
    keyPrefix: z.string().regex(/^[A-Za-z0-9_.-]{1,32}$/, 'letters, digits, _ . - (1-32)').default('ca'),
    /** Shared by all replicas: keys are HMAC-SHA256 digests under it. Required. */
    hmacSecret: secretSource.optional(),
    /** Every Redis call is abandoned after this (well under Envoy's message timeout). */
    deadline: duration.prefault('50ms'),
    /** Account state (cooldowns, credential failures, usage) is shared at once through pub/sub, and read back this often. */
    accountStateRefresh: duration.prefault('1s'),
    /** A per-replica cache in front of Redis; changes invalidate every replica's copy through pub/sub. */
    nearCache: z
      .strictObject({ maxEntries: z.number().int().min(0).default(50_000), ttl: duration.prefault('5s') })
      .prefault({}),
  }),
]);

/**
 * HTTP/2 receive windows (extproc/receive-window.ts): the defaults, and HTTP/2's bounds
 * (RFC 9113, 6.5.2 and 6.9.1). Node's own default is 64 KiB for both.
 */
export const HTTP2_WINDOW_BYTES = { stream: 1024 * 1024, connection: 16 * 1024 * 1024, smallest: 65_535, largest: 2 ** 31 - 1 } as const;

export const configSchema = z.strictObject({
  grpc: z
    .strictObject({
      /** A sidecar's Envoy reaches the processor over loopback: nothing else should. */
      host: z.string().default('127.0.0.1'),
      port: port.default(50051),
      /** Listen on a Unix socket instead of host:port (a volume shared with Envoy). */
      socket: z.string().startsWith('/').optional(),
      /** TLS on the gRPC listener (files from a Secret); with clientCaFile, Envoy must present a certificate (mTLS). */
      tls: z
        .strictObject({ certFile: z.string().min(1), keyFile: z.string().min(1), clientCaFile: z.string().min(1).optional() })
        .optional(),
      /**
       * Open ext_proc streams the processor takes on; a stream beyond them gets an
       * immediate 503 processor_overloaded, so Envoy fails fast instead of queueing. 0: no bound.
       */
      maxOpenStreams: z.number().int().min(0).default(0),
      /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS of each connection (grpc-js `grpc.max_concurrent_streams`); unset: no bound. */
      maxConcurrentStreamsPerConnection: z.number().int().positive().optional(),
      /** HTTP/2 receive window of each stream (SETTINGS_INITIAL_WINDOW_SIZE): request bytes Envoy may send before the processor acknowledges them. */
      streamWindowBytes: z.number().int().min(HTTP2_WINDOW_BYTES.smallest).max(HTTP2_WINDOW_BYTES.largest).default(HTTP2_WINDOW_BYTES.stream),
      /** HTTP/2 receive window of each connection, shared by its streams. */
      connectionWindowBytes: z.number().int().min(HTTP2_WINDOW_BYTES.smallest).max(HTTP2_WINDOW_BYTES.largest).default(HTTP2_WINDOW_BYTES.connection),
    })
    .prefault({}),
  http: z
    .strictObject({ host: z.string().default('0.0.0.0'), port: port.default(9464) })
    .prefault({}),
  routing: z
    .strictObject({
      clusterHeader: headerName.default('x-codex-affinity-cluster'),
      /** Paths (exact, query ignored) treated as inference calls; others pass through. */
      inferencePaths: z
        .array(z.string().startsWith('/'))
        .default(['/v1/responses', '/responses', '/backend-api/codex/responses', '/v1/responses/compact', '/responses/compact', '/backend-api/codex/responses/compact', '/v1/chat/completions']),
      contentSeed: z.boolean().default(true),
      /**
       * Route calls on stored objects (/v1/conversations[/{id}...], /v1/responses/{id}[...])
       * to the exact account holding the object, and learn new conversations' ids.
       */
      storedObjectCalls: z.boolean().default(true),
      /** Header (set by Envoy, e.g. from authn) that names the client's pool. */
      poolHeader: headerName.optional(),
      /** Header (set by Envoy authn) naming the principal; otherwise a hash of the client credential. */
      principalHeader: headerName.optional(),
      /** Adds x-envoy-max-retries: 0 to hard requests (needs Envoy mutation_rules.allow_envoy). */
      retryGuard: z.boolean().default(false),
      /** Dynamic metadata namespace for access logs. */
      metadataNamespace: z.string().min(1).default('codex_affinity'),
    })
    .prefault({}),
  rewrite: z
    .strictObject({
      /** Apply the account profile's rewrites (bodies, paths, continuity). */
      enabled: z.boolean().default(true),
      /** Set prompt_cache_key from the session when the caller sent none. */
      continuity: z.boolean().default(true),
      /** Upstream headers that carry the session's continuity identity. */
      sessionHeaders: z.array(headerName).default(['session_id']),
      /** OpenAI-Beta token for Responses WebSocket handshakes (replaces responses=experimental). */
      websocketBeta: z.string().regex(/^[\x21-\x7e]+$/).default('responses_websockets=2026-02-06'),
    })
    .prefault({}),
  healing: z
    .strictObject({
      /**
       * Off by default. When a hard session's domain has no configured account
       * left, drop the reasoning it cannot carry and rebind it, instead of 409.
       */
      enabled: z.boolean().default(false),
    })
    .prefault({}),
  limits: z
    .strictObject({
      /** Request bodies above this (raw or decoded) get 413 request_too_large. */
      maxBodyBytes: z.number().int().positive().default(32 * 1024 * 1024),
      /** Request bodies of at least this size (compressed ones: a sixteenth) are decoded and scanned in worker threads; 0: never. */
      workerBodyBytes: z.number().int().min(0).default(2 * 1024 * 1024),
    })
    .prefault({}),
  bindings: z
    .strictObject({
      sessionTtl: duration.prefault('6h'),
      /** Stored response ids, stored items and encrypted items. */
      responseTtl: duration.prefault('7d'),
      /** Conversation ids (the upstream keeps conversations until deleted). */
      conversationTtl: duration.prefault('30d'),
      turnStateTtl: duration.prefault('3h'),
      /** How long a domain or account that refused a session's orphaned request is skipped for it. */
      exclusionTtl: duration.prefault('15m'),
      /** A read slides a binding's TTL only when less than this fraction of it remains. */
      slideFraction: z.number().gt(0).max(1).default(0.5),
    })
    .prefault({}),
  health: z
    .strictObject({
      /** Cooldown after a 429 that names no reset. */
      defaultCooldown: duration.prefault('30s'),
      /** 5xx / resets within this window count against an account. */
      failureWindow: duration.prefault('60s'),
      failureThreshold: z.number().int().positive().default(5),
      /** After 401/403 an account gets no new sessions for this long, then is tried again. */
      credentialRecheck: duration.prefault('5m'),
      /** Cooldown after insufficient_quota (billing must be fixed by a human). */
      quotaCooldown: duration.prefault('1h'),
      /** At or above this usage-window percent an account gets fewer new sessions. */
      nearLimitPercent: z.number().min(0).max(100).default(90),
    })
    .prefault({}),
  responses: z
    .strictObject({
      /** Learn response ids (and reasoning item ids) from successful responses. */
      learnResponseIds: z.boolean().default(true),
      /**
       * Read successful SSE streams chunk by chunk (response ids, usage, error events after a 200).
       * Envoy holds each chunk until the processor answers; false: chunks are never held, and
       * what only the stream tells is not learned.
       */
      inspectStreams: z.boolean().default(true),
      /** JSON responses larger than this are not inspected. */
      maxInspectBytes: z.number().int().positive().default(8 * 1024 * 1024),
    })
    .prefault({}),
  store: storeSchema.prefault({ kind: "memory" }),
  /** How soft affinity balances: cache-aware rebalancing, escape, stickiness (every pool; pools[].balance overrides). */
  balance: balanceSchema.prefault({}),
  logging: z
    .strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
    .prefault({}),
  shutdown: z
    .strictObject({
      /** After SIGTERM, the longest the processor keeps serving; streams still open then are cut (exit code 3). */
      grace: duration.prefault('10s'),
      /**
       * Envoy's admin address (host:port) in the same pod. After SIGTERM the processor keeps
       * serving every stream, old and new, until Envoy has exited (its admin port refuses
       * connections) and no stream is open. Unset: until no stream has been open for `idle`.
       */
      envoyAdmin: z.string().regex(/^[^\s:]+:\d+$/, 'host:port').optional(),
      idle: duration.prefault('2s'),
    })
    .prefault({}),
  /** Envoy's side of the pod, for `codex-affinity envoy-config` (src/envoy/); the processor ignores it. */
  envoy: z
    .strictObject({
      /** The listener clients (the Service) reach. */
      listenerPort: port.default(10000),
      /** Envoy's admin endpoint, on loopback only (/ready, /drain_listeners). */
      adminPort: port.default(9901),
      /** A listener for the kubelet's probes: only GET /ready (Envoy's admin) and the gRPC health check (the processor). */
      readinessPort: port.optional(),
      /** Bounds the buffered request body; Codex bodies exceed Envoy's 1 MiB default. */
      bufferLimitBytes: z.number().int().positive().max(2 ** 32 - 1).default(8 * 1024 * 1024),
      streamIdleTimeout: duration.prefault('900s'),
      /** ext_proc message_timeout; by default sized from the store's deadline. */
      messageTimeout: duration.optional(),
      /** Cluster of non-inference calls (default: the first openai account's, else the first account's). */
      defaultCluster: z.string().min(1).optional(),
      /** Cluster of non-inference /backend-api/ calls (default: the first chatgpt-codex account's, else none). */
      chatgptDefaultCluster: z.string().min(1).optional(),
      /**
       * Addresses Envoy trusts as internal (CIDR). Requests from anywhere else are external:
       * Envoy strips their x-envoy-* control headers and the internal-only headers before any filter.
       */
      internalAddresses: z.array(z.string().regex(/^[0-9a-fA-F.:]+\/\d{1,3}$/, 'a CIDR range')).default(['127.0.0.1/32']),
    })
    .prefault({}),
  admin: z
    .strictObject({
      /**
       * A file holding the admin API's bearer token (a mounted Secret; re-read when it
       * changes). Without it the /admin/ endpoints do not exist.
       */
      tokenFile: z.string().min(1).optional(),
    })
    .prefault({}),
  reload: z
    .strictObject({
      /** Apply changes of the config file (a ConfigMap update) without a restart. */
      watch: z.boolean().default(true),
      /** How often the file is checked (stat polling follows a ConfigMap's symlink swap). */
      pollInterval: duration.prefault('2s'),
    })
    .prefault({}),
  accounts: z.array(accountSchema).min(1, 'at least one account is required'),
  pools: z.array(poolSchema).optional(),
  /** Defaults for every pool's tenancy (see tenancySchema); a pool's own settings win. */
  tenancy: tenancySchema.prefault({}),
});

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type AccountConfig = Config['accounts'][number];
export type Profile = (typeof PROFILES)[number];
