import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { BodyWorkerPool } from './body/body-worker-pool.js';
import { buildAccountDirectory } from './accounts/account.js';
import { AccountStateTable, type AccountState } from './accounts/health.js';
import { createAdminServer } from './admin/http-server.js';
import { createRedisStore } from './bindings/create-redis-store.js';
import { createRedisClient } from './redis/client.js';
import { SharedAccountState } from './accounts/shared-account-state.js';
import { createMemoryStore } from './bindings/create-store.js';
import { GuardedStore } from './bindings/guarded-store.js';
import { NearCache } from './bindings/near-cache.js';
import type { BindingStore } from './bindings/store.js';
import type { Config } from './config/schema.js';
import { loadExternalProcessor } from './extproc/proto.js';
import { serveProcessStream } from './extproc/stream.js';
import type { WireProcessingRequest, WireProcessingResponse } from './extproc/wire-types.js';
import { createLogger, type Logger } from './logging/logger.js';
import { Metrics } from './metrics/metrics.js';
import type { ProcessorContext } from './processor/context.js';
import { AffinityRequestProcessor } from './processor/request-processor.js';
import { createWeightedRoundRobin } from './routing/select.js';
import { CredentialStore } from './credentials/credentials.js';
import { mergeRules, PROFILE_RULES, type ProfileRules } from './rewrite/profiles.js';

export interface ServerOptions {
  readonly logger?: Logger;
  readonly clock?: () => number;
  readonly store?: BindingStore;
  readonly defaultMetrics?: boolean;
}

export interface RunningServer {
  readonly grpcAddress: string;
  readonly grpcPort: number;
  readonly httpAddress: string;
  readonly httpPort: number;
  readonly context: ProcessorContext;
  /** Stops accepting, lets open streams finish within the grace period, then closes. */
  stop(graceMilliseconds?: number): Promise<void>;
}

interface SharedState {
  readonly store: BindingStore;
  readonly accountState: AccountState;
  /** Waits (bounded) for the shared store to connect. */
  readonly ready: () => Promise<void>;
  /** For /readyz: the store's kind and state. */
  readonly describe: () => string;
  readonly close: () => Promise<void>;
}

/** Bindings and account state: this replica's memory, or shared through Redis. */
function createSharedState(config: Config, clock: () => number, metrics: Metrics, logger: Logger, given: BindingStore | undefined): SharedState {
  const local = new AccountStateTable({
    failureWindowMilliseconds: config.health.failureWindow,
    failureThreshold: config.health.failureThreshold,
    nearLimitPercent: config.health.nearLimitPercent,
  });
  if (config.store.kind === 'memory' || given) {
    const store = given ?? createMemoryStore(config, clock, metrics);
    return { store, accountState: local, ready: async () => undefined, describe: () => (given ? 'given' : 'memory'), close: () => store.close() };
  }
  const redis = config.store;
  const bindings = createRedisStore(config);
  const accountState = new SharedAccountState(local, {
    client: createRedisClient(redis),
    subscriber: createRedisClient(redis),
    keyPrefix: redis.keyPrefix,
    refreshMilliseconds: redis.accountStateRefresh,
    logger,
    accounts: new Set(config.accounts.map((account) => account.name)),
    clock,
  });
  const guarded = new GuardedStore(bindings, { deadline: redis.deadline, metrics, logger });
  const store =
    redis.nearCache.maxEntries > 0
      ? new NearCache(guarded, {
          maxEntries: redis.nearCache.maxEntries,
          ttl: redis.nearCache.ttl,
          metrics,
          keyOf: (key) => bindings.redisKey(key),
          degraded: () => guarded.isDegraded,
          bus: { client: createRedisClient(redis), subscriber: createRedisClient(redis), channel: `${redis.keyPrefix}:{bindings}:changed` },
        })
      : guarded;
  return {
    store,
    accountState,
    ready: async () => {
      if (!(await bindings.ready(Math.min(5000, Math.max(1000, redis.deadline * 20))))) guarded.markUnreachable();
    },
    describe: () => (guarded.isDegraded ? 'redis degraded (routing by placement, nothing new hardened)' : 'redis ok'),
    close: async () => {
      await Promise.all([store.close(), accountState.close()]);
    },
  };
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export async function startServer(config: Config, options: ServerOptions = {}): Promise<RunningServer> {
  const clock = options.clock ?? Date.now;
  const logger = options.logger ?? createLogger(config.logging.level);
  const metrics = new Metrics({ defaultMetrics: options.defaultMetrics ?? false });
  const credentials = new CredentialStore(config, logger);
  const rewriteRules = new Map<string, ProfileRules>(config.accounts.map((account) => [account.name, mergeRules(PROFILE_RULES[account.profile], account.rewrite)]));
  const shared = createSharedState(config, clock, metrics, logger, options.store);
  const store = shared.store;
  await shared.ready();
  const bodyWorkers =
    config.limits.workerBodyBytes > 0 ? new BodyWorkerPool({ thresholdBytes: config.limits.workerBodyBytes, maxThreads: Math.max(1, availableParallelism() - 1) }) : undefined;
  const context: ProcessorContext = {
    config,
    directory: buildAccountDirectory(config),
    accountState: shared.accountState,
    store,
    metrics,
    logger,
    tieBreaker: createWeightedRoundRobin(),
    clock,
    inferencePaths: new Set(config.routing.inferencePaths),
    credentials,
    rewriteRules,
    ...(bodyWorkers ? { bodyWorkers } : {}),
  };

  const definition = loadExternalProcessor();
  const grpcServer = new grpc.Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024, 'grpc.max_send_message_length': 64 * 1024 * 1024 });
  grpcServer.addService(definition.service, {
    Process: (call: grpc.ServerDuplexStream<WireProcessingRequest, WireProcessingResponse>) =>
      serveProcessStream(call, {
        createProcessor: () => new AffinityRequestProcessor(context),
        onPhaseError: (phase, error) => {
          metrics.phaseErrors.inc({ phase });
          logger.error({ phase, err: error instanceof Error ? { message: error.message, stack: error.stack } : String(error) }, 'processor phase failed; request continues unmodified');
        },
        onInvalidHeader: () => metrics.invalidHeaders.inc(),
        onStreamError: (error) => logger.debug({ message: error.message }, 'ext_proc stream error'),
        onStreamStart: () => metrics.streams.inc(),
        onStreamEnd: () => metrics.streams.dec(),
      }),
  });
  const health = new HealthImplementation({ '': 'SERVING', 'envoy.service.ext_proc.v3.ExternalProcessor': 'SERVING' });
  health.addToServer(grpcServer);

  const grpcPort = await new Promise<number>((resolve, reject) => {
    grpcServer.bindAsync(`${hostForUrl(config.grpc.host)}:${config.grpc.port}`, grpc.ServerCredentials.createInsecure(), (error, port) =>
      error ? reject(error) : resolve(port),
    );
  });

  let draining = false;
  const http: HttpServer = createAdminServer(metrics, { ready: () => !draining, detail: () => [`store: ${shared.describe()}`] });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(config.http.port, config.http.host, () => resolve());
  });
  const httpPort = (http.address() as AddressInfo).port;

  let stopping: Promise<void> | undefined;
  const stop = (graceMilliseconds = config.shutdown.grace): Promise<void> => {
    stopping ??= (async () => {
      draining = true;
      health.setStatus('', 'NOT_SERVING');
      health.setStatus('envoy.service.ext_proc.v3.ExternalProcessor', 'NOT_SERVING');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          grpcServer.forceShutdown();
          resolve();
        }, graceMilliseconds);
        timer.unref();
        grpcServer.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      await new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeAllConnections?.();
      await shared.close();
      await bodyWorkers?.close();
      credentials.close();
    })();
    return stopping;
  };

  return {
    grpcAddress: `${hostForUrl(config.grpc.host)}:${grpcPort}`,
    grpcPort,
    httpAddress: `http://${hostForUrl(config.http.host)}:${httpPort}`,
    httpPort,
    context,
    stop,
  };
}
