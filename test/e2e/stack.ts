// The whole product on loopback: fake upstream accounts, the Envoy stand-in, and (for the
// affinity topology) the real processor. Two baselines use the same harness without the
// processor: round robin over one cluster whose hosts are the accounts, and Envoy's own
// alternative, consistent hashing (RING_HASH) on the session-id header.
import { parseConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import type { BindingStore } from '../../src/bindings/store.js';
import { createLogger } from '../../src/logging/logger.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { startFakeAccount, type FakeAccount, type FakeAccountOptions } from '../fake-upstream/index.js';
import { startEnvoy, type Envoy } from '../harness/index.js';

export type Topology = 'affinity' | 'round-robin' | 'ring-hash';

export interface StackOptions {
  topology: Topology;
  accounts: FakeAccountOptions[];
  /** Extra processor configuration (affinity topology). */
  processor?: Partial<ConfigInput>;
  store?: BindingStore;
  /** The processor's clock (default: the wall clock); a test that compresses time moves it. */
  clock?: () => number;
  /** Envoy route retry policy; default: connect-failure and reset, one retry. */
  retry?: { retry_on: string; num_retries: number } | null;
}

export interface Stack {
  readonly url: string;
  readonly envoy: Envoy;
  readonly accounts: FakeAccount[];
  /** The running processor (affinity topology); a new one after restartProcessor(). */
  readonly processor?: RunningServer;
  /**
   * Affinity topology: stops the processor (its store goes with it) and starts a fresh one
   * with the same configuration and, unless `store` is given, a fresh store built from the
   * configuration; the Envoy stand-in is pointed at the new one. Account state starts over.
   */
  restartProcessor(options?: { store?: BindingStore }): Promise<RunningServer>;
  close(): Promise<void>;
}

const RETRY_DEFAULT = { retry_on: 'connect-failure,reset', num_retries: 1 };

/** The processor's config for fake accounts on loopback: one cluster per account, `cluster-<name>`. */
export function configForAccounts(accounts: readonly FakeAccountOptions[], overrides: Partial<ConfigInput> = {}): ReturnType<typeof parseConfig> {
  return parseConfig({
    grpc: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    logging: { level: 'warn' },
    accounts: accounts.map((account) => ({ name: account.name, cluster: `cluster-${account.name}`, domain: account.domain ?? account.name, profile: account.profile ?? 'openai' })),
    ...overrides,
  });
}

/**
 * The Envoy stand-in in front of a processor as deploy/envoy.yaml sets it up: ext_proc
 * with mode_override, a cluster_header route, one cluster per fake account.
 */
export function affinityEnvoy(
  processorAddress: string,
  clusterHeader: string,
  accounts: readonly FakeAccount[],
  retry: { retry_on: string; num_retries: number } | undefined,
): Parameters<typeof startEnvoy>[0] {
  return {
    ext_proc: {
      grpc_service: { target: processorAddress },
      processing_mode: { request_header_mode: 'SEND', response_header_mode: 'SEND', request_body_mode: 'BUFFERED', response_body_mode: 'NONE' },
      // Above the 200 ms default, as deploy/envoy.yaml: large bodies on a busy 2-core machine.
      message_timeout: '2s',
      allow_mode_override: true,
      mutation_rules: { allow_envoy: true },
      metadata_options: { receiving_namespaces: { untyped: ['codex_affinity'] } },
    },
    route_config: { routes: [{ match: { prefix: '/' }, route: { cluster_header: clusterHeader, ...(retry ? { retry_policy: retry } : {}) } }] },
    clusters: accounts.map((fake) => ({ name: `cluster-${fake.name}`, endpoints: [{ address: '127.0.0.1', port: fake.port }] })),
    per_connection_buffer_limit_bytes: 16 * 1024 * 1024,
  };
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const accounts: FakeAccount[] = [];
  const closers: Array<() => Promise<unknown>> = [];
  try {
    for (const account of options.accounts) {
      const fake = await startFakeAccount(account);
      accounts.push(fake);
      closers.push(() => fake.close());
    }
    const retry = options.retry === null ? undefined : (options.retry ?? RETRY_DEFAULT);
    let processor: RunningServer | undefined;
    let processorConfig: ReturnType<typeof parseConfig> | undefined;
    let envoy: Envoy;
    if (options.topology === 'affinity') {
      const config = configForAccounts(options.accounts, options.processor);
      processor = await startServer(config, { logger: createLogger('warn'), ...(options.store ? { store: options.store } : {}), ...(options.clock ? { clock: options.clock } : {}) });
      processorConfig = config;
      closers.push(() => processor!.stop(1000));
      envoy = await startEnvoy(affinityEnvoy(processor.grpcAddress, config.routing.clusterHeader, accounts, retry));
    } else {
      const ringHash = options.topology === 'ring-hash';
      envoy = await startEnvoy({
        route_config: {
          routes: [
            {
              match: { prefix: '/' },
              route: {
                cluster: 'pool',
                ...(retry ? { retry_policy: { ...retry, retry_host_predicate: ['previous_hosts'] } } : {}),
                ...(ringHash ? { hash_policy: [{ header: { header_name: 'session-id' } }] } : {}),
              },
            },
          ],
        },
        clusters: [{ name: 'pool', lb_policy: ringHash ? 'RING_HASH' : 'ROUND_ROBIN', endpoints: accounts.map((fake) => ({ address: '127.0.0.1', port: fake.port })) }],
        per_connection_buffer_limit_bytes: 16 * 1024 * 1024,
      });
    }
    closers.push(() => envoy.close());
    return {
      url: envoy.url,
      envoy,
      accounts,
      get processor() {
        return processor;
      },
      async restartProcessor(restart = {}) {
        if (!processor || !processorConfig || !envoy.config.ext_proc) throw new Error('restartProcessor: only the affinity topology has a processor');
        await processor.stop(1000);
        processor = await startServer(processorConfig, { logger: createLogger('warn'), ...(restart.store ? { store: restart.store } : {}) });
        // Envoy opens its ext_proc streams to the configured target per request: point it at the new one.
        envoy.config.ext_proc.target = processor.grpcAddress;
        return processor;
      },
      async close() {
        for (const close of closers.reverse()) await close().catch(() => undefined);
      },
    };
  } catch (error) {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    throw error;
  }
}
