import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { BodyWorkerPool } from './body/body-worker-pool.js';
import { AccountStateTable, type AccountState } from './accounts/health.js';
import { accountStatuses, type AccountStatus } from './accounts/account-status.js';
import { OperatorState, type OperatorControl } from './accounts/operator-state.js';
import { SharedOperatorState } from './accounts/shared-operator-state.js';
import { registerAccountGauges } from './accounts/account-gauges.js';
import { createAdminServer } from './admin/http-server.js';
import type { AdminApi } from './admin/admin-routes.js';
import { AdminControl } from './admin/control.js';
import { SecretValue } from './credentials/secret-source.js';
import { createRedisStore } from './bindings/create-redis-store.js';
import { createRedisClient } from './redis/client.js';
import { SharedAccountState } from './accounts/shared-account-state.js';
import { createMemoryStore } from './bindings/create-store.js';
import { GuardedStore } from './bindings/guarded-store.js';
import { storeWithDeadline } from './bindings/deadline-store.js';
import { MemoryBindingStore } from './bindings/memory-store.js';
import { TimedStore } from './bindings/timed-store.js';
import { NearCache } from './bindings/near-cache.js';
import type { BindingStore } from './bindings/store.js';
import type { Config } from './config/schema.js';
import { loadExternalProcessor } from './extproc/proto.js';
import { createResponseEncoder } from './extproc/response-encoder.js';
import { serveProcessStream } from './extproc/stream.js';
import { grpcBindAddress, grpcServerCredentials, listenerExposure } from './extproc/listener.js';
import { widenReceiveWindows } from './extproc/receive-window.js';
import type { WireProcessingRequest, WireProcessingResponse } from './extproc/wire-types.js';
import { createLogger, type Logger } from './logging/logger.js';
import { Metrics } from './metrics/metrics.js';
import type { ProcessorContext } from './processor/context.js';
import { AffinityRequestProcessor } from './processor/request-processor.js';
import { processorOverloaded, processorUnavailable } from './processor/errors.js';
import { createWeightedRoundRobin } from './routing/select.js';
import { BalanceState } from './balance/balancer.js';
import { CredentialStore } from './credentials/credentials.js';
import { waitForDrain, type DrainOutcome } from './shutdown/drain.js';
import { ContextGenerations, type ReloadResult } from './processor/context-generations.js';

export interface ServerOptions {
  readonly logger?: Logger;
  readonly clock?: () => number;
  /** Monotonic milliseconds for latency measurement (default performance.now). */
  readonly elapsed?: () => number;
  readonly store?: BindingStore;
  /** Bound on each call to a given store (it has no deadline of its own); default 250 ms. */
  readonly storeDeadlineMilliseconds?: number;
  readonly defaultMetrics?: boolean;
}


export type { ReloadResult };

export interface RunningServer {
  readonly grpcAddress: string;
  readonly grpcPort: number;
  readonly httpAddress: string;
  readonly httpPort: number;
  /** The context new streams get (a reload replaces it; open streams keep theirs). */
  readonly context: ProcessorContext;
  /** Drains, flushes and operator cooldowns (admin API). */
  readonly operatorState: OperatorControl;
  /**
   * Applies a new configuration to new streams without dropping open ones: accounts
   * added, removed, reweighted. Refused (the old one stays) when it changes what needs
   * a restart (config/reloadable.ts) or its credentials cannot be read.
   */
  reload(next: Config): ReloadResult;
  /** Stops accepting, lets open streams finish within the grace period, then closes. */
  stop(graceMilliseconds?: number): Promise<void>;
  /**
   * What SIGTERM does: keeps serving every stream, old and new, until Envoy needs the
   * processor no more or shutdown.grace is over (src/shutdown/drain.ts), then closes.
   */
  drain(): Promise<DrainOutcome>;
}

interface SharedState {
  readonly store: BindingStore;
  readonly accountState: AccountState;
  /** Waits (bounded) for the shared store to connect. */
  readonly ready: () => Promise<void>;
  /** For /readyz: the store's kind and state. */
  readonly describe: () => string;
  readonly close: () => Promise<void>;
  /** Drains and flushes (the admin API's and balancing's): this replica's, or shared through Redis. */
  readonly operatorState: OperatorControl;
  /** Live session bindings per account, where the store can count them (memory). */
  readonly sessionBindingsByAccount?: () => Map<string, { soft: number; hard: number }>;
}

/** Bindings and account state: this replica's memory, or shared through Redis. */
function createSharedState(
  config: Config,
  clock: () => number,
  metrics: Metrics,
  logger: Logger,
  options: ServerOptions,
  configuredAccounts: ReadonlySet<string>,
): SharedState {
  // A given store has no deadline of its own: a hung one must fail requests closed, not hold them.
  const given = options.store ? storeWithDeadline(options.store, options.storeDeadlineMilliseconds ?? 250) : undefined;
  const local = new AccountStateTable({
    failureWindowMilliseconds: config.health.failureWindow,
    failureThreshold: config.health.failureThreshold,
    nearLimitPercent: config.health.nearLimitPercent,
  });
  if (config.store.kind === 'memory' || given) {
    const memory = given ? undefined : createMemoryStore(config, clock, metrics);
    const store = given ?? new TimedStore(memory!, metrics);
    const counted = memory ?? (options.store instanceof MemoryBindingStore ? options.store : undefined);
    return {
      store,
      accountState: local,
      operatorState: new OperatorState(),
      ready: async () => undefined,
      describe: () => (given ? 'given' : 'memory'),
      close: () => store.close(),
      ...(counted ? { sessionBindingsByAccount: () => counted.sessionBindingsByAccount() } : {}),
    };
  }
  const redis = config.store;
  const bindings = createRedisStore(config);
  // Account and operator state: each its own pair of connections (one of them subscribed).
  const sharing = () => ({
    client: createRedisClient(redis),
    subscriber: createRedisClient(redis),
    keyPrefix: redis.keyPrefix,
    refreshMilliseconds: redis.accountStateRefresh,
    logger,
    accounts: configuredAccounts,
    clock,
  });
  const accountState = new SharedAccountState(local, sharing());
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
  const operatorState = new SharedOperatorState(new OperatorState(), sharing());
  return {
    store,
    accountState,
    operatorState,
    ready: async () => {
      if (!(await bindings.ready(Math.min(5000, Math.max(1000, redis.deadline * 20))))) guarded.markUnreachable();
    },
    describe: () => (guarded.isDegraded ? 'redis degraded (routing by placement, nothing new hardened)' : 'redis ok'),
    close: async () => {
      await Promise.all([store.close(), accountState.close(), operatorState.close()]);
    },
  };
}

function readAdminToken(file: string, logger: Logger): SecretValue {
  try {
    return new SecretValue({ file }, (ok) => (ok ? logger.info('admin token reloaded') : logger.warn('admin token re-read failed; keeping the previous one')));
  } catch {
    throw new Error(`admin.tokenFile: empty or unreadable file ${file}, or more than one line`);
  }
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export async function startServer(config: Config, options: ServerOptions = {}): Promise<RunningServer> {
  const clock = options.clock ?? Date.now;
  const logger = options.logger ?? createLogger(config.logging.level);
  const metrics = new Metrics({ defaultMetrics: options.defaultMetrics ?? false });
  // Read first: a configured admin token that cannot be read stops the start, before anything listens.
  const adminToken = config.admin.tokenFile ? readAdminToken(config.admin.tokenFile, logger) : undefined;
  const credentials = new CredentialStore(config, logger);
  // Kept up to date by reloads: shared account state about other names is ignored.
  const configuredAccounts = new Set(config.accounts.map((account) => account.name));
  const shared = createSharedState(config, clock, metrics, logger, options, configuredAccounts);
  const store = shared.store;
  await shared.ready();
  const bodyWorkers =
    config.limits.workerBodyBytes > 0 ? new BodyWorkerPool({ thresholdBytes: config.limits.workerBodyBytes, maxThreads: Math.max(1, availableParallelism() - 1) }) : undefined;
  const operatorState = shared.operatorState;
  const tieBreaker = createWeightedRoundRobin();
  // Balancing's averages, budgets and flush marks (the operator's) outlive every configuration generation.
  const balanceState = new BalanceState(config, operatorState);
  const elapsed = options.elapsed ?? (() => performance.now());
  const generations = new ContextGenerations(
    config,
    credentials,
    { accountState: shared.accountState, operatorState, store, metrics, logger, tieBreaker, clock, balanceState, elapsed, ...(bodyWorkers ? { bodyWorkers } : {}) },
    { configuredAccounts, operatorState },
  );

  const statuses = (): AccountStatus[] => {
    const now = clock();
    const context = generations.current;
    return accountStatuses(context.directory, (account) => context.accountState.view(account, now), (account) => operatorState.isDrained(account), context.accountState.healthPolicy, now);
  };
  registerAccountGauges(metrics, statuses);

  /** Streams taken on (refused ones are open too, for a moment, but not counted here). */
  let admittedStreams = 0;
  const maxOpenStreams = config.grpc.maxOpenStreams;
  const releaseStream = () => {
    admittedStreams--;
  };
  const definition = loadExternalProcessor();
  // Answers go out through the processor's own encoder (extproc/response-encoder.ts): the same bytes as proto-loader's, cheaper.
  const service = { ...definition.service, Process: { ...definition.service.Process!, responseSerialize: createResponseEncoder() } };
  const grpcServer = new grpc.Server({
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    'grpc.max_send_message_length': 64 * 1024 * 1024,
    ...(config.grpc.maxConcurrentStreamsPerConnection !== undefined ? { 'grpc.max_concurrent_streams': config.grpc.maxConcurrentStreamsPerConnection } : {}),
  });
  if (!widenReceiveWindows(grpcServer, { streamBytes: config.grpc.streamWindowBytes, connectionBytes: config.grpc.connectionWindowBytes })) {
    logger.warn('this grpc-js has no HTTP/2 server factory to wrap: grpc.streamWindowBytes and grpc.connectionWindowBytes are not applied (Node defaults of 64 KiB)');
  }
  grpcServer.addService(service, {
    Process: (call: grpc.ServerDuplexStream<WireProcessingRequest, WireProcessingResponse>) =>
      serveProcessStream(call, {
        createProcessor: () => new AffinityRequestProcessor(generations.current),
        onPhaseError: (phase, error) => {
          metrics.phaseErrors.inc({ phase });
          logger.error({ phase, err: error instanceof Error ? { name: error.name, message: error.message } : String(error) }, 'processor phase failed');
        },
        requestFailure: () => ({ immediate: processorUnavailable() }),
        onInvalidHeader: () => metrics.invalidHeaders.inc(),
        onStreamError: (error) => logger.debug({ message: error.message }, 'ext_proc stream error'),
        admit: () => {
          if (maxOpenStreams > 0 && admittedStreams >= maxOpenStreams) {
            metrics.rejections.inc({ code: 'processor_overloaded' });
            return { refusal: { immediate: processorOverloaded() } };
          }
          admittedStreams++;
          return { release: releaseStream };
        },
        onStreamStart: () => {
          metrics.live.openStreams++;
        },
        onStreamEnd: () => {
          metrics.live.openStreams--;
        },
        onPhaseTimed: (phase, seconds) => metrics.phaseSeconds.observe({ phase }, seconds),
        onPhaseChange: (previous, next) => metrics.live.phaseChanged(previous, next),
      }),
  });
  const health = new HealthImplementation({ '': 'SERVING', 'envoy.service.ext_proc.v3.ExternalProcessor': 'SERVING' });
  health.addToServer(grpcServer);

  const exposure = listenerExposure(config.grpc, config.accounts.some((account) => account.credential !== undefined));
  if (exposure !== undefined) logger.warn({ host: config.grpc.host }, exposure);
  const grpcPort = await new Promise<number>((resolve, reject) => {
    grpcServer.bindAsync(grpcBindAddress(config.grpc), grpcServerCredentials(config.grpc), (error, port) =>
      error ? reject(error) : resolve(port),
    );
  });

  let draining = false;
  const admin: AdminApi | undefined = adminToken
    ? { token: () => adminToken.current, control: new AdminControl(() => generations.current, operatorState, shared.sessionBindingsByAccount), maxBodyBytes: config.limits.maxBodyBytes }
    : undefined;
  const http: HttpServer = createAdminServer(metrics, { ready: () => !draining, detail: () => [`store: ${shared.describe()}`] }, admin);
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
      generations.close();
      adminToken?.close();
      await bodyWorkers?.close();
    })();
    return stopping;
  };

  const drain = async (): Promise<DrainOutcome> => {
    draining = true;
    const outcome = await waitForDrain({
      graceMilliseconds: config.shutdown.grace,
      idleMilliseconds: config.shutdown.idle,
      envoyAdmin: config.shutdown.envoyAdmin,
      openStreams: () => metrics.live.openStreams,
    });
    await stop(0);
    return outcome;
  };

  return {
    grpcAddress: config.grpc.socket !== undefined ? `unix:${config.grpc.socket}` : `${hostForUrl(config.grpc.host)}:${grpcPort}`,
    grpcPort,
    httpAddress: `http://${hostForUrl(config.http.host)}:${httpPort}`,
    httpPort,
    get context() {
      return generations.current;
    },
    operatorState,
    reload: (next) => generations.reload(next),
    stop,
    drain,
  };
}
